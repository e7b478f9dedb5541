"""Textual ETF separation: prototypes inside each cluster form a simplex ETF.

Functional core plus the `EtfSeparationTerm` loss term. All math runs in
float32 so half-precision features never overflow or NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.etf import etf_deviation_evaluator, etf_pair_weights, weighted_etf_deviation
from cpt_lightning.clustering.grid_terms import GridEvaluation
from cpt_lightning.clustering.grouped import GroupedFeatures, grouped_view
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.clustering.procrustes import align_to_tuned, frozen_factor
from cpt_lightning.losses._checks import require_clusters
from cpt_lightning.losses.base import LossInputs, LossTerm
from cpt_lightning.losses.cluster_weighting import ClusterWeighting, check_weighting, cluster_mean, cluster_weights

EtfVariant = Literal["cluster_centred", "cluster_uncentred", "cluster_simplex", "global"]
ETF_VARIANTS = ("cluster_centred", "cluster_uncentred", "cluster_simplex", "global")


def _multi_member_sizes(layout: ClusterLayout) -> torch.Tensor:
    return layout.sizes[layout.multi_member_clusters]


def etf_separation_loss(
    text_features: torch.Tensor | GroupedFeatures,
    clusters: torch.Tensor | ClusterLayout | None = None,
    centred: bool = True,
    cluster_weighting: ClusterWeighting = "uniform",
    pair_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """`L_etf = mean_C mean_{i != j in C} (u_i . u_j + 1/(n-1))^2` over clusters of size >= 2.

    `clusters`: a `[K]` assignment or its `ClusterLayout`; None is one cluster of all classes.
    `text_features` may be a step's `GroupedFeatures` on that layout (shared with the other terms).
    `cluster_weighting="size"` weighs each cluster by its size (`cluster_mean`). Returns a
    differentiable zero when no cluster has two members. `pair_weights`: `etf_pair_weights` of the
    layout and weighting, if already known (they are fixed for an installed assignment).
    """
    view = grouped_view(text_features, clusters)
    if not view.layout.has_multi_member_cluster:
        return view.features.sum() * 0.0
    if pair_weights is None:
        pair_weights = etf_separation_pair_weights(view.layout, cluster_weighting)
    return weighted_etf_deviation(view, pair_weights, centred=centred)


def etf_separation_pair_weights(layout: ClusterLayout, cluster_weighting: ClusterWeighting) -> torch.Tensor:
    """The pair weights (float32) that make `weighted_etf_deviation` the cluster average `cluster_weighting` names."""
    return etf_pair_weights(layout, cluster_weights(layout.sizes, cluster_weighting, torch.float32))


def simplex_vertices(n: int, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`[n, dim]`: the n unit vertices of a centred simplex, `(e_i - 1/n) / sqrt((n-1)/n)`, zero-padded.

    Every pair has cosine `-1/(n-1)` and the rows sum to zero: the simplex ETF.
    """
    if n > dim:
        raise ValueError(f"A simplex of {n} vertices needs >= {n} dimensions to pad into; features have {dim}.")
    eye = torch.eye(n, dtype=dtype)
    vertices = (eye - 1.0 / n) / ((n - 1) / n) ** 0.5
    return F.pad(vertices, (0, dim - n))


def simplex_targets(layout: ClusterLayout, dim: int) -> torch.Tensor:
    """The fixed side of `simplex_residual_per_cluster`'s Procrustes problems on `layout`, for features of
    `dim` dimensions: each cluster's simplex (`simplex_vertices`, zero for a singleton) in a `[C, S, max(dim, S)]`
    grid, factorised once (`frozen_factor`), since it depends only on the cluster sizes."""
    slots = layout.index.shape[1]
    shape = (layout.sizes.numel(), slots, max(dim, slots))
    targets = torch.zeros(shape, dtype=torch.float64, device=layout.index.device)
    for n in torch.unique(layout.sizes).tolist():
        if n >= 2:
            targets[layout.sizes == n, :n] = simplex_vertices(n, shape[-1], torch.float64).to(targets.device)
    return frozen_factor(targets)


def simplex_residual_per_cluster(
    text_features: torch.Tensor | GroupedFeatures,
    clusters: torch.Tensor | ClusterLayout | None,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per cluster with n >= 2: `||U_C - E_n R_C||_F^2 / n`, the distance to the nearest simplex ETF.

    `U_C` are the centred, normalised prototypes `normalize(t_k - mu_C)`, `E_n` the fixed simplex
    (`simplex_vertices`) and `R_C` its best rotation onto `U_C` (orthogonal Procrustes, detached, as in
    rotation stabilisation). Unlike the pairwise-cosine loss, whose centred form already has the
    simplex's *mean* cosine whenever the centred norms are equal, this target pins every vertex, and
    its gradient is linear in the deviation rather than quadratic in the cosine error. A cluster
    with more members than dimensions + 1 cannot be a simplex in feature space: its prototypes are
    then compared in `R^n` (zero-padded), so the residual is its distance to the nearest simplex there.
    `targets`: `simplex_targets` of the layout and feature dimension, if already known.
    """
    view = grouped_view(text_features, clusters)
    layout = view.layout
    slots = layout.slot_mask_as(view.grouped.dtype)
    units = F.normalize(view.centred, dim=-1) * slots
    units = F.pad(units, (0, max(0, view.grouped.shape[1] - units.shape[-1])))
    if targets is None:
        targets = simplex_targets(layout, view.features.shape[-1])
    aligned = align_to_tuned(targets, units.detach()).to(units.dtype)
    per_cluster = (units - aligned).square().sum(dim=(1, 2)) / layout.sizes_as(units.dtype)
    return per_cluster[layout.multi_member_clusters]


class EtfSeparationTerm(LossTerm):
    """Pushes prompt-tuned prototypes towards a simplex ETF (logged as `etf`).

    Variants: `cluster_centred` (CPT: inside each cluster, after removing the
    cluster mean, so the cluster's position stays CLIP's), `cluster_uncentred`
    (inside each cluster, raw cosines), `cluster_simplex` (inside each cluster,
    the centred prototypes against a fixed simplex aligned by Procrustes:
    `simplex_residual_per_cluster`), `global` (NPT-style: raw cosines of all
    K prototypes towards `-1/(K-1)`, no clusters needed). `cluster_weighting`
    averages the clusters alike ("uniform") or by size ("size").
    """

    name = "etf"

    def __init__(
        self,
        weight: float = 1.0,
        variant: EtfVariant = "cluster_centred",
        cluster_weighting: ClusterWeighting = "uniform",
    ) -> None:
        super().__init__(weight)
        if variant not in ETF_VARIANTS:
            raise ValueError(f"EtfSeparationTerm: variant must be one of {ETF_VARIANTS}, got {variant!r}.")
        check_weighting("EtfSeparationTerm", cluster_weighting)
        self.variant = variant
        self.cluster_weighting = cluster_weighting
        self.needs_clusters = variant != "global"
        # (layout, feature dimension, `simplex_targets`) of the last step: the simplex side of the
        # `cluster_simplex` Procrustes problems is fixed for an installed assignment.
        self._simplex: tuple[ClusterLayout, int, torch.Tensor] | None = None
        # (layout, `etf_separation_pair_weights`) of the last step: fixed for an installed assignment.
        self._pair_weights: tuple[ClusterLayout, torch.Tensor] | None = None

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        if self.variant == "global":
            return etf_separation_loss(inputs.text_features, None, centred=False)
        clusters = require_clusters(self.name, inputs)
        if self.variant == "cluster_simplex":
            targets = self._targets(clusters, inputs)
            per_cluster = simplex_residual_per_cluster(inputs.grouped_text(clusters), clusters, targets)
            if per_cluster.numel() == 0:
                return inputs.text_features.float().sum() * 0.0
            return cluster_mean(per_cluster, _multi_member_sizes(clusters), self.cluster_weighting)
        evaluation = self.grid_evaluation(inputs)
        if evaluation is None:  # no cluster has two members
            return inputs.text_features.float().sum() * 0.0
        return evaluation.value()

    def grid_evaluation(self, inputs: LossInputs) -> GridEvaluation | None:
        """The pairwise-cosine variants (`cluster_centred`, `cluster_uncentred`) on the step's grid; None for the
        others and where no cluster has two members (the value is then a constant zero)."""
        if self.variant not in ("cluster_centred", "cluster_uncentred"):
            return None
        clusters = require_clusters(self.name, inputs)
        if not clusters.has_multi_member_cluster:
            return None
        if self._pair_weights is None or self._pair_weights[0] is not clusters:
            self._pair_weights = (clusters, etf_separation_pair_weights(clusters, self.cluster_weighting))
        evaluator = etf_deviation_evaluator(self._pair_weights[1], centred=self.variant == "cluster_centred")
        return GridEvaluation(inputs.grouped_text(clusters), evaluator)

    def _targets(self, clusters: ClusterLayout, inputs: LossInputs) -> torch.Tensor:
        dim = inputs.text_features.shape[-1]
        cached = self._simplex
        if cached is None or cached[0] is not clusters or cached[1] != dim:
            cached = self._simplex = (clusters, dim, simplex_targets(clusters, dim))
        return cached[2]
