"""`cpt`: the LightningCLI entry point (`cpt fit|validate|test|predict --config FILE`)."""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch import Callback, LightningDataModule, Trainer
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.callbacks.prediction_writer import PredictionWriter
from cpt_lightning.callbacks.share_prompt import SharePrompt
from cpt_lightning.callbacks.wandb_dashboard import WandbDashboard
from cpt_lightning.commands import dispatch, lightning_args
from cpt_lightning.models.cpt_module import CPTModule
from cpt_lightning.plugins import AtomicCheckpointIO

# Lightning's default progress bar redraws after every step, a visible share of a tiny model's step
# (measured in docs/performance.md); every 10 steps keeps it live at a fraction of the cost.
PROGRESS_BAR_REFRESH_RATE = 10


def default_progress_bar() -> TQDMProgressBar:
    """The progress bar `cpt` adds when the trainer configures none (and does not disable it)."""
    return TQDMProgressBar(refresh_rate=PROGRESS_BAR_REFRESH_RATE)


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
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ClusterAssignmentCallback, "clusters")
        parser.add_lightning_class_args(WandbDashboard, "dashboard")
        parser.add_lightning_class_args(PredictionWriter, "predictions")
        parser.add_lightning_class_args(SharePrompt, "share")
        parser.link_arguments("data", "model.classnames", compute_fn=_classnames_of, apply_on="instantiate")
        parser.link_arguments("data", "model.class_groups", compute_fn=_class_groups_of, apply_on="instantiate")
        parser.link_arguments("data", "model.class_counts", compute_fn=_class_counts_of, apply_on="instantiate")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        callbacks = _as_list(config.get("callbacks"))
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            kwargs["callbacks"] = [*callbacks, default_progress_bar()]
        trainer = super().instantiate_trainer(**kwargs)
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


def console_main() -> None:
    """The `cpt` console script: runs `main` and returns nothing, so the process exits with status 0
    (a console script passes its function's return value to `sys.exit`, where an object means failure).
    `cpt presets|export` are dispatched before LightningCLI."""
    status = dispatch()
    if status is not None:
        raise SystemExit(status)
    main()


if __name__ == "__main__":
    console_main()
