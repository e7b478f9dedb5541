"""`cpt`: the LightningCLI entry point (`cpt fit|validate|test|predict --config FILE`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import Callback, LightningDataModule, Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI, _InstantiatorFn
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.utilities import rank_zero_info

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.callbacks.prediction_writer import PredictionWriter
from cpt_lightning.callbacks.progress_bar import StepProgressBar
from cpt_lightning.callbacks.results_summary import ResultsSummary
from cpt_lightning.callbacks.share_prompt import SharePrompt
from cpt_lightning.callbacks.wandb_dashboard import WandbDashboard
from cpt_lightning.checkpoints import RunIdentity, RunOwnership, merge_saved_hyper_parameters, read_checkpoint
from cpt_lightning.checkpoints.precedence import describe_replaced
from cpt_lightning.commands import dispatch, lightning_args
from cpt_lightning.config_files import check_seed, check_yaml_files
from cpt_lightning.errors import USER_ERROR_EXIT_CODE, library_error_in
from cpt_lightning.hardware import precision_for_device, warn_if_emulated_bf16
from cpt_lightning.loggers.wandb_fallback import without_unusable_wandb
from cpt_lightning.models.cpt_module import CPTModule
from cpt_lightning.plugins import AtomicCheckpointIO
from cpt_lightning.trainer_options import keep_integer_counts_integers

# Lightning's default progress bar redraws after every step, a visible share of a tiny model's step
# (measured in docs/performance.md); every 10 steps keeps it live at a fraction of the cost.
PROGRESS_BAR_REFRESH_RATE = 10


def default_progress_bar() -> StepProgressBar:
    """The progress bar `cpt` adds when the trainer configures none (and does not disable it)."""
    return StepProgressBar(refresh_rate=PROGRESS_BAR_REFRESH_RATE)


def _as_list(callbacks: Callback | list[Callback] | None) -> list[Callback]:
    return [] if callbacks is None else list(callbacks) if isinstance(callbacks, list) else [callbacks]


def _classnames_of(datamodule: LightningDataModule) -> list[str]:
    names = getattr(datamodule, "classnames", None)
    if not names:
        raise ValueError(
            f"{type(datamodule).__name__} exposes no `classnames`; a data module for CPTModule must know its "
            "training class names after __init__ (from its split or class-name file)."
        )
    return list(names)


def _class_groups_of(datamodule: LightningDataModule) -> list[str] | None:
    groups = getattr(datamodule, "class_groups", None)
    return list(groups) if groups is not None else None


def _class_counts_of(datamodule: LightningDataModule) -> list[int] | None:
    counts = getattr(datamodule, "class_counts", None)
    return [int(n) for n in counts] if counts is not None else None


# Model arguments that come from the data module at instantiation: never from a checkpoint, and no
# part of a run's identity beyond the data config they derive from.
DATA_LINKS = {"classnames": _classnames_of, "class_groups": _class_groups_of, "class_counts": _class_counts_of}


class CPTLightningCLI(LightningCLI):
    """LightningCLI whose data module tells the model its class names, head/medium/tail groups and
    training class counts.

    The cluster callback is always on, configured under the top-level `clusters:` key: the
    cluster-aware terms need it, every method's geometry metrics use it, and a user's own
    `trainer.callbacks` list (checkpointing, early stopping) can no longer drop it by accident.
    Likewise the `dashboard` section configures the always-present `WandbDashboard` callback (a
    no-op unless `trainer.logger` is a `WandbLogger`).

    Unless `trainer.callbacks` has a progress bar of its own or `trainer.enable_progress_bar` is
    false, the progress bar redraws every `PROGRESS_BAR_REFRESH_RATE` steps instead of every step.
    Unless it has a `ResultsSummary`, one is added: every `cpt test`, and every `cpt fit` that
    validates, ends with the readable summary beside the zero-shot CLIP's.

    Hardware and logging adapt to the machine without replacing anything the config sets: a null
    `trainer.precision` becomes the precision that fits the device (`hardware.py`), and a W&B
    logger that has no login to log with becomes a CSV logger in the same folder, with a notice
    (`loggers.py`).

    With `--ckpt_path FILE`, values the user typed win over the checkpoint's saved hyper-parameters
    (`checkpoints/precedence.py`); every run records its identity in its checkpoints and locks its
    checkpoint directories (`checkpoints/ownership.py`); the data module's files are verified before
    the model loads (`data/verify.py`; `--verify_images true` decodes every image too).
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--verify_images", type=bool, default=False,
            help="Decode every listed image once before the CLIP loads and list all bad files (data/verify.py).",
        )  # fmt: skip
        parser.add_lightning_class_args(ClusterAssignmentCallback, "clusters")
        parser.add_lightning_class_args(WandbDashboard, "dashboard")
        parser.add_lightning_class_args(PredictionWriter, "predictions")
        parser.add_lightning_class_args(SharePrompt, "share")
        for key, compute in DATA_LINKS.items():
            parser.link_arguments("data", f"model.{key}", compute_fn=compute, apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        self._typed_args = sys.argv[1:] if args is None else args
        if not isinstance(self._typed_args, (dict, Namespace)):
            check_yaml_files(self._typed_args)
        super().parse_arguments(parser, args)
        check_seed(self.config.get(self.config.get("subcommand") or "", self.config).get("seed_everything"))

    def _explicit_model_config(self, subcommand: str) -> dict[str, Any]:
        """The model values given on the command line or in config files, without the parser's defaults."""
        typed = self._typed_args
        if isinstance(typed, (dict, Namespace)):
            explicit = self.parser.parse_object(typed, defaults=False)
        else:
            explicit = self.parser.parse_args(typed, defaults=False)
        return explicit.as_dict().get(subcommand, {}).get("model") or {}

    def _parse_ckpt_path(self) -> None:
        """Lightning merges a checkpoint's hyper-parameters over everything parsed; here only over the values
        the user left at their defaults, and they are listed (`checkpoints/precedence.py`)."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        saved = read_checkpoint(ckpt_path).get("hyper_parameters") or {}
        if not {key for key in saved if key != "_instantiator"}:
            return
        current = self.config[subcommand]["model"].as_dict()
        explicit = self._explicit_model_config(subcommand)
        merged = merge_saved_hyper_parameters(saved, explicit, current, str(ckpt_path), linked=frozenset(DATA_LINKS))
        self.config = self.parser.parse_object({subcommand: {"model": merged.model}}, self.config)
        if merged.replaced:
            rank_zero_info(describe_replaced(merged.replaced, str(ckpt_path)))

    def before_instantiate_classes(self) -> None:
        config = self.config.get(str(self.subcommand), self.config)
        self.run_identity = RunIdentity.from_config(config.as_dict(), linked=frozenset(DATA_LINKS))
        self.run_identity_before_renames = RunIdentity.before_renames(config.as_dict(), linked=frozenset(DATA_LINKS))
        self.resumes_last = self.subcommand == "fit" and config.get("ckpt_path") == "last"
        decode = bool(config.get("verify_images"))
        lightning_instantiator = _InstantiatorFn(cli=self, key="data")

        def instantiate_then_verify(
            class_type: type, *args: Any, applied_instantiation_links: dict, **kwargs: Any
        ) -> LightningDataModule:
            # The data module is built before the model (the model's class names link from it): its files
            # are checked here, on every rank, before the CLIP loads.
            links = applied_instantiation_links
            datamodule = lightning_instantiator(class_type, *args, applied_instantiation_links=links, **kwargs)
            if hasattr(datamodule, "verify_files"):
                datamodule.verify_files(decode=decode)
            return datamodule

        self.parser.add_instantiator(instantiate_then_verify, LightningDataModule, subclasses=True, prepend=True)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand in ("validate", "test"):
            # `ResultsSummary` prints the results; Lightning's table would repeat every value per
            # dataloader and cut long keys. `--verbose true` brings it back.
            parser.set_defaults(verbose=False)
        return parser

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        callbacks = _as_list(config.get("callbacks"))
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(default_progress_bar())
        if not any(isinstance(c, ResultsSummary) for c in callbacks):
            callbacks.append(ResultsSummary())
        ownership = RunOwnership(self.run_identity, self.resumes_last, self.run_identity_before_renames)
        kwargs["callbacks"] = [*callbacks, ownership]
        # A precision plugin the user configured is their precision choice: Lightning refuses both.
        plugin_sets_precision = any(isinstance(plugin, Precision) for plugin in _as_list(config.get("plugins")))
        if config.get("precision") is None and not plugin_sets_precision:
            kwargs["precision"] = precision_for_device(config.get("accelerator"))
        logger = config.get("logger")
        if isinstance(logger, Logger | list):
            loggers, notice = without_unusable_wandb(_as_list(logger))
            if notice is not None:
                rank_zero_info(notice)
                kwargs["logger"] = loggers if isinstance(logger, list) else loggers[0]
        trainer = super().instantiate_trainer(**kwargs)
        warn_if_emulated_bf16(isinstance(trainer.accelerator, CPUAccelerator), trainer.precision)
        # Checkpoints that survive a kill, unless the user configured their own CheckpointIO plugin.
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer


def main(args: list[str] | None = None, run: bool = True) -> CPTLightningCLI:
    """Run the CLI; `args` replaces `sys.argv[1:]` (for tests and notebooks). `run=False` only
    instantiates the trainer, model and data from `args` (no subcommand), for the reproduce runner.
    `cpt:NAME` values are preset files (`cpt_lightning.presets`)."""
    if args is None:
        # LightningCLI reads sys.argv itself when `args` is None (and warns when given both).
        sys.argv[1:] = lightning_args(sys.argv[1:])
    keep_integer_counts_integers()
    return CPTLightningCLI(
        CPTModule,
        LightningDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=None if args is None else lightning_args(args),
        run=run,
        # The module's `optimizer` / `scheduler` keys configure optimisation (`cpt_lightning.commands`).
        auto_configure_optimizers=False,
    )


def console_main(args: list[str] | None = None) -> None:
    """The `cpt` console script: runs `main` and returns nothing, so the process exits with status 0
    (a console script passes its function's return value to `sys.exit`, where an object means failure).

    `cpt presets|export` are dispatched before LightningCLI. An error of the library's own (bad data
    layout, sampling settings, checkpoint, CLIP path; see `errors.py`), from either, is printed once,
    as its message, and exits with status 2 like a parser error, instead of surfacing inside the
    argument parser's traceback.
    """
    try:
        status = dispatch(args)
        if status is not None:
            raise SystemExit(status)
        main(args)
    except Exception as error:
        cause = library_error_in(error)
        if cause is None:
            raise
        print(f"cpt: error: {cause}", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT_CODE) from None


if __name__ == "__main__":
    console_main()
