"""Computes the cluster-invariant space at fit start and stores it on the module."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from cpt_lightning.callbacks.degenerate_settings import degenerate_settings, describe_degenerate
from cpt_lightning.clustering.assign import ClusterMethod, assign_clusters, check_cluster_settings
from cpt_lightning.losses import LossCollection


@runtime_checkable
class ClusterAssignable(Protocol):
    """What the callback needs from a LightningModule (CPTModule implements it).

    Its training `classnames`, their frozen zero-shot text features, and where the assignment goes
    (`set_cluster_assignment`, kept in the `cluster_ids` buffer). A module that also caches `t0`
    offers `ensure_frozen_text_features()`, which the callback then uses instead of recomputing.
    """

    classnames: list[str]
    cluster_ids: torch.Tensor

    def zero_shot_text_features(self, templates: list[str] | None = None) -> torch.Tensor: ...

    def set_cluster_assignment(self, cluster_ids: torch.Tensor) -> None: ...


def cluster_size_stats(cluster_ids: torch.Tensor) -> dict[str, float]:
    """Number of clusters, largest and mean size, and number of singletons."""
    sizes = torch.bincount(cluster_ids.cpu())
    sizes = sizes[sizes > 0]
    return {
        "count": float(len(sizes)),
        "max_size": float(sizes.max()),
        "mean_size": float(sizes.float().mean()),
        "singletons": float((sizes == 1).sum()),
    }


class ClusterAssignmentCallback(pl.Callback):
    """At every fit start, clusters the frozen zero-shot text features into groups of <= S classes.

    Features: without `templates`, the module's frozen zero-shot features `t0`
    (`ensure_frozen_text_features()`, or a filled `frozen_text_features`);
    with `templates`, `pl_module.zero_shot_text_features(templates=...)`
    (batched over classes by the module). The assignment (`assign_clusters`)
    is computed on global rank 0 only and broadcast, so every DDP rank holds
    the identical ids, and handed to `pl_module.set_cluster_assignment`, which
    keeps it in a persistent buffer: `validate`/`test` from a checkpoint use
    the stored assignment and never recompute. When a fit resumes from a
    checkpoint that already holds an assignment for the same classes, that
    assignment is kept. Cluster sizes are sent to the loggers under
    `clusters/*`; with `log_members`, a members table goes to W&B (if the
    logger is a `WandbLogger`) or to `cluster_members.tsv` in the log dir.
    """

    def __init__(
        self,
        max_cluster_size: int = 16,
        method: ClusterMethod = "cosine",
        templates: list[str] | None = None,
        seed: int = 0,
        log_members: bool = False,
    ) -> None:
        super().__init__()
        check_cluster_settings(max_cluster_size, method, owner=type(self).__name__)
        self.max_cluster_size = max_cluster_size
        self.method = method
        self.templates = templates
        self.seed = seed
        self.log_members = log_members

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not isinstance(pl_module, ClusterAssignable):
            raise TypeError(
                f"ClusterAssignmentCallback needs a module with `classnames`, `cluster_ids`, "
                f"`zero_shot_text_features` and `set_cluster_assignment` (CPTModule); {type(pl_module).__name__} "
                "lacks some. Use CPTModule, or implement `ClusterAssignable`."
            )
        num_classes = len(pl_module.classnames)
        restored = pl_module.cluster_ids
        if trainer.ckpt_path is not None and restored.numel() == num_classes:
            rank_zero_info(f"ClusterAssignmentCallback: keeping the assignment restored from {trainer.ckpt_path}.")
            self._warn_if_degenerate(pl_module, restored)
            return
        features = self._frozen_features(pl_module)
        cluster_ids = None
        if trainer.is_global_zero:
            cluster_ids = assign_clusters(features, self.max_cluster_size, self.method, self.seed)
        cluster_ids = trainer.strategy.broadcast(cluster_ids, src=0)
        pl_module.set_cluster_assignment(cluster_ids.to(pl_module.device))
        self._report(trainer, pl_module, cluster_ids)
        self._warn_if_degenerate(pl_module, cluster_ids)

    def _warn_if_degenerate(self, pl_module: pl.LightningModule, cluster_ids: torch.Tensor) -> None:
        loss = getattr(pl_module, "loss", None)
        problems = (
            degenerate_settings(loss, cluster_ids, self.max_cluster_size) if isinstance(loss, LossCollection) else []
        )
        if problems:
            rank_zero_warn(describe_degenerate(problems))

    def _frozen_features(self, pl_module: ClusterAssignable) -> torch.Tensor:
        if self.templates is None and hasattr(pl_module, "ensure_frozen_text_features"):
            # The module's own t0: computed once here, reused by the loss terms that need it.
            return pl_module.ensure_frozen_text_features()
        frozen = getattr(pl_module, "frozen_text_features", None)
        if self.templates is None and frozen is not None and frozen.numel() > 0:
            return frozen
        return pl_module.zero_shot_text_features(templates=self.templates)

    def _report(self, trainer: pl.Trainer, pl_module: ClusterAssignable, cluster_ids: torch.Tensor) -> None:
        if not trainer.is_global_zero:
            return
        stats = cluster_size_stats(cluster_ids)
        rank_zero_info(
            f"ClusterAssignmentCallback ({self.method}, S={self.max_cluster_size}): "
            f"{int(stats['count'])} clusters, max size {int(stats['max_size'])}, "
            f"mean size {stats['mean_size']:.2f}, {int(stats['singletons'])} singletons."
        )
        for logger in trainer.loggers:
            logger.log_metrics({f"clusters/{key}": value for key, value in stats.items()}, step=trainer.global_step)
        if self.log_members:
            self._log_members(trainer, pl_module.classnames, cluster_ids)

    def _log_members(self, trainer: pl.Trainer, classnames: list[str], cluster_ids: torch.Tensor) -> None:
        ids = cluster_ids.cpu()
        rows = [
            [cluster, len(members), ", ".join(classnames[k] for k in members)]
            for cluster in range(int(ids.max()) + 1)
            for members in [torch.nonzero(ids == cluster).flatten().tolist()]
        ]
        columns = ["cluster", "size", "members"]
        wandb_loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        for logger in wandb_loggers:
            logger.log_table(key="clusters/members", columns=columns, data=rows)
        if wandb_loggers:
            return
        directory = Path(trainer.log_dir or trainer.default_root_dir)
        os.makedirs(directory, exist_ok=True)
        with open(directory / "cluster_members.tsv", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(columns)
            writer.writerows(rows)
        rank_zero_info(f"ClusterAssignmentCallback: cluster members written to {directory / 'cluster_members.tsv'}.")
