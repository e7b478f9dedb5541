"""Mean and spread of cosines between text prototypes of the same cluster."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from cpt_lightning.clustering.layout import ClusterLayout


def intra_cluster_pairwise_cosines(text_features: torch.Tensor, cluster_ids: torch.Tensor) -> torch.Tensor:
    """Cosines of every unordered pair `i < j` of classes in the same cluster, flat `[P]`, float32."""
    features = F.normalize(text_features.float(), dim=-1)
    layout = ClusterLayout.from_ids(cluster_ids.to(features.device))
    grouped = layout.gather(features)
    cosines = grouped @ grouped.transpose(1, 2)
    upper = torch.triu(torch.ones_like(cosines[0], dtype=torch.bool), diagonal=1)
    pair_mask = layout.mask.unsqueeze(2) & layout.mask.unsqueeze(1) & upper
    return cosines[pair_mask]


class IntraClusterCosine(Metric):
    """Mean and (population) std of intra-cluster pairwise cosines of text prototypes.

    `update(text_features [K, D], cluster_ids [K])`; `compute()` returns
    `{"mean": ..., "std": ...}` over all pairs seen. States are the sum, the
    sum of squares and the number of pairs (float64, reduced by sum).
    """

    is_differentiable = False
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("cosine_sum", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("cosine_square_sum", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("pair_count", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, text_features: torch.Tensor, cluster_ids: torch.Tensor) -> None:
        cosines = intra_cluster_pairwise_cosines(text_features.detach(), cluster_ids).double()
        self.cosine_sum += cosines.sum()
        self.cosine_square_sum += cosines.square().sum()
        self.pair_count += cosines.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        if self.pair_count == 0:
            nan = self.cosine_sum.new_tensor(float("nan"))
            return {"mean": nan, "std": nan}
        mean = self.cosine_sum / self.pair_count
        variance = (self.cosine_square_sum / self.pair_count - mean.square()).clamp_min(0)
        return {"mean": mean, "std": variance.sqrt()}
