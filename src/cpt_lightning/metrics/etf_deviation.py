"""How far text prototypes are from a simplex ETF, globally or inside each cluster."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from cpt_lightning.clustering.etf import etf_deviation_per_cluster


class EtfDeviation(Metric):
    """Mean over clusters (n >= 2) of the mean squared deviation of pairwise cosines from `-1/(n-1)`.

    Cosines are taken between centred, normalised prototypes
    `u_k = normalize(t_k - mu_C)` (`centred=True`) -- the same quantity as
    `L_etf` -- or raw ones. `update(text_features [K, D], cluster_ids=None)`:
    None treats all classes as one cluster (the global ETF deviation). States
    are the sum of per-cluster deviations and the number of clusters, reduced
    by sum, so updates with disjoint sets of clusters (batches or DDP ranks)
    combine exactly. NaN when no cluster has two members.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, centred: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.centred = centred
        self.add_state("deviation_sum", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("cluster_count", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, text_features: torch.Tensor, cluster_ids: torch.Tensor | None = None) -> None:
        per_cluster = etf_deviation_per_cluster(text_features.detach(), cluster_ids, self.centred).double()
        self.deviation_sum += per_cluster.sum()
        self.cluster_count += per_cluster.numel()

    def compute(self) -> torch.Tensor:
        if self.cluster_count == 0:
            return self.deviation_sum.new_tensor(float("nan"))
        return self.deviation_sum / self.cluster_count
