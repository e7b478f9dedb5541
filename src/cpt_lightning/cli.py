"""`cpt`: the LightningCLI entry point (`cpt fit|validate|test|predict --config FILE`)."""

from __future__ import annotations

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.models.cpt_module import CPTModule


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


class CPTLightningCLI(LightningCLI):
    """LightningCLI whose data module tells the model its class names and head/medium/tail groups.

    The cluster callback is always on, configured under the top-level `clusters:` key: the
    cluster-aware terms need it, every method's geometry metrics use it, and a user's own
    `trainer.callbacks` list (checkpointing, early stopping) can no longer drop it by accident.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ClusterAssignmentCallback, "clusters")
        parser.link_arguments("data", "model.classnames", compute_fn=_classnames_of, apply_on="instantiate")
        parser.link_arguments("data", "model.class_groups", compute_fn=_class_groups_of, apply_on="instantiate")


def main(args: list[str] | None = None) -> CPTLightningCLI:
    """Run the CLI; `args` replaces `sys.argv[1:]` (for tests and notebooks)."""
    return CPTLightningCLI(
        CPTModule,
        LightningDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main()
