"""Per-cluster neural-collapse geometry of the prompt-tuned prototypes over training, every N steps."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning.pytorch as pl
import torch

from cpt_lightning.clustering.etf import etf_deviation_per_cluster
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses.etf_separation import simplex_residual_per_cluster
from cpt_lightning.losses.rotation_stabilization import procrustes_residual_per_cluster

TRACE_FILE = "nc_geometry.tsv"
COLUMNS = ("step", "cluster", "size", "etf_deviation", "simplex_residual", "procrustes_residual")


class NCGeometryTrace(pl.Callback):
    """Logs, every `every_n_steps` training steps (and at the first), the geometry each NC term targets.

    Per cluster with two or more classes: the intra-cluster ETF deviation (centred pairwise cosines
    against `-1/(n-1)`, what `L_etf` measures), the distance to the nearest simplex
    (`simplex_residual_per_cluster`) and the Procrustes residual to the frozen prototypes (what
    `L_rot` measures). Their means over clusters go to the loggers as `geometry/<name>`; every
    cluster's row goes to `nc_geometry.tsv` in the trainer's log dir (or `default_root_dir`). NC1 of
    the image features is logged by the module at every validation (`val/nc1`).
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"NCGeometryTrace: every_n_steps must be >= 1, got {every_n_steps}.")
        self.every_n_steps = every_n_steps
        self.path: Path | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        folder = Path(trainer.log_dir or trainer.default_root_dir)
        self.path = folder / TRACE_FILE
        if trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as handle:
                csv.writer(handle, delimiter="\t").writerow(COLUMNS)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step % self.every_n_steps or pl_module.cluster_ids.numel() == 0:
            return
        with torch.no_grad():
            rows = self.measure(pl_module.prompted_text_features(), pl_module.ensure_frozen_text_features(),
                                pl_module.cluster_ids)  # fmt: skip
        if not rows:
            return
        for name in COLUMNS[3:]:
            value = sum(row[name] for row in rows) / len(rows)
            pl_module.log(f"geometry/{name}", value, on_step=True, on_epoch=False, batch_size=1)
        if trainer.is_global_zero and self.path is not None:
            with self.path.open("a", newline="") as handle:
                writer = csv.writer(handle, delimiter="\t")
                for row in rows:
                    writer.writerow([trainer.global_step, *(row[name] for name in COLUMNS[1:])])

    @staticmethod
    def measure(text: torch.Tensor, frozen: torch.Tensor, cluster_ids: torch.Tensor) -> list[dict[str, float]]:
        """One row per cluster of size >= 2: its id, size and the three geometry values."""
        layout = ClusterLayout.from_ids(cluster_ids.to(text.device))
        keep = layout.multi_member_clusters
        ids = torch.unique(cluster_ids.cpu())[keep.cpu()].tolist()
        etf = etf_deviation_per_cluster(text, layout, centred=True).tolist()
        simplex = simplex_residual_per_cluster(text, layout).tolist()
        procrustes, sizes = procrustes_residual_per_cluster(text, frozen.to(text.device), layout)
        return [
            {"cluster": c, "size": n, "etf_deviation": e, "simplex_residual": s, "procrustes_residual": p}
            for c, n, e, s, p in zip(ids, sizes.tolist(), etf, simplex, procrustes.tolist(), strict=True)
        ]
