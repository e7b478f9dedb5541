"""Textual ETF separation: prototypes inside each cluster form a simplex ETF.

Functional core plus the `EtfSeparationTerm` loss term. All math runs in
float32 so half-precision features never overflow or NaN.
"""

from __future__ import annotations

from typing import Literal

import torch

from cpt_lightning.clustering.etf import etf_deviation_per_cluster
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses._checks import require_clusters
from cpt_lightning.losses.base import LossInputs, LossTerm


def etf_separation_loss(
    text_features: torch.Tensor, clusters: torch.Tensor | ClusterLayout | None = None, centred: bool = True
) -> torch.Tensor:
    """`L_etf = mean_C mean_{i != j in C} (u_i . u_j + 1/(n-1))^2` over clusters of size >= 2.

    `clusters`: a `[K]` assignment or its `ClusterLayout`; None is one cluster of all classes.
    Returns a differentiable zero when no cluster has two members.
    """
    per_cluster = etf_deviation_per_cluster(text_features, clusters, centred)
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
        clusters = require_clusters(self.name, inputs)
        return etf_separation_loss(inputs.text_features, clusters, centred=self.variant == "cluster_centred")
