"""Textual ETF separation: prototypes inside each cluster form a simplex ETF.

Functional core plus the `EtfSeparationTerm` loss term. All math runs in
float32 so half-precision features never overflow or NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses._checks import require_clusters
from cpt_lightning.losses.base import LossInputs, LossTerm


def etf_deviation_per_cluster(
    text_features: torch.Tensor, cluster_ids: torch.Tensor | None = None, centred: bool = True
) -> torch.Tensor:
    """Per cluster with n >= 2 members, `mean_{i != j} (u_i . u_j + 1/(n-1))^2`.

    `u_k = normalize(t_k - mu_C)` when `centred`, else `normalize(t_k)`.
    `cluster_ids=None` treats all classes as one cluster (the global view).
    Singleton clusters have no pairs and are left out, so the result has one
    entry per cluster of size >= 2 (possibly none).
    """
    features = text_features.float()
    if cluster_ids is None:
        layout = ClusterLayout.single_group(features.shape[0], device=features.device)
    else:
        layout = ClusterLayout.for_assignment(cluster_ids.to(features.device))
    grouped = layout.gather(features)  # [C, S, D]
    if centred:
        grouped = grouped - layout.grouped_means(grouped).unsqueeze(1)
    units = F.normalize(grouped, dim=-1) * layout.slot_mask_as(grouped.dtype)
    cosines = units @ units.transpose(1, 2)  # [C, S, S]

    sizes = layout.sizes_as(features.dtype)
    target = -1.0 / (sizes - 1).clamp_min(1)  # singletons are dropped below
    squared = (cosines - target.view(-1, 1, 1)).square() * layout.pair_mask
    per_cluster = squared.sum(dim=(1, 2)) / (sizes * (sizes - 1)).clamp_min(1)
    return per_cluster[layout.multi_member_clusters]


def etf_separation_loss(
    text_features: torch.Tensor, cluster_ids: torch.Tensor | None = None, centred: bool = True
) -> torch.Tensor:
    """`L_etf = mean_C mean_{i != j in C} (u_i . u_j + 1/(n-1))^2` over clusters of size >= 2.

    Returns a differentiable zero when no cluster has two members.
    """
    per_cluster = etf_deviation_per_cluster(text_features, cluster_ids, centred)
    if per_cluster.numel() == 0:
        return text_features.float().sum() * 0.0
    return per_cluster.mean()


class EtfSeparationTerm(LossTerm):
    """Pushes prompt-tuned prototypes towards a simplex ETF (logged as `etf`).

    Variants: `cluster_centred` (CPT: inside each cluster, after removing the
    cluster mean, so the cluster's position stays CLIP's), `cluster_uncentred`
    (inside each cluster, raw cosines), `global` (NPT-style: raw cosines of all
    K prototypes towards `-1/(K-1)`, no clusters needed).
    """

    name = "etf"

    def __init__(
        self,
        weight: float = 1.0,
        variant: Literal["cluster_centred", "cluster_uncentred", "global"] = "cluster_centred",
    ) -> None:
        super().__init__(weight)
        if variant not in ("cluster_centred", "cluster_uncentred", "global"):
            raise ValueError(
                f"EtfSeparationTerm: variant must be 'cluster_centred', 'cluster_uncentred' or 'global', "
                f"got {variant!r}."
            )
        self.variant = variant
        self.needs_clusters = variant != "global"

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        if self.variant == "global":
            return etf_separation_loss(inputs.text_features, None, centred=False)
        cluster_ids = require_clusters(self.name, inputs)
        return etf_separation_loss(inputs.text_features, cluster_ids, centred=self.variant == "cluster_centred")
