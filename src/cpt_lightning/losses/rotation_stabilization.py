"""Rotation stabilization: each cluster of tuned prototypes is a rotated frozen cluster.

Functional core (the per-cluster Procrustes residual, on the batched solver of
`clustering/procrustes.py`, and the centroid-only variant) plus `RotationStabilizationTerm`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.grid_terms import GridEvaluation, GridEvaluator, GridTermResult
from cpt_lightning.clustering.grouped import GroupedFeatures, grouped_view
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.clustering.procrustes import align_to_tuned, frozen_factor
from cpt_lightning.losses._checks import require_clusters, require_frozen_text
from cpt_lightning.losses.base import LossInputs, LossTerm
from cpt_lightning.losses.cluster_weighting import ClusterWeighting, check_weighting, cluster_mean, cluster_weights


def procrustes_residual_per_cluster(
    text_features: torch.Tensor | GroupedFeatures,
    frozen_text_features: torch.Tensor,
    clusters: torch.Tensor | ClusterLayout,
    frozen_r: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(||T_C - T0_C R_C||_F^2 / n, n)` for each cluster with n >= 2, the rotation detached.

    `clusters`: a `[K]` assignment or its `ClusterLayout`. A singleton can always be rotated onto
    its target exactly, so it carries no signal and is left out. `frozen_r`: the frozen side's
    `frozen_factor` of the gathered `t0`, if already known (it does not change during a fit).
    `text_features` may be a step's `GroupedFeatures` on that layout (shared with the other terms).
    """
    view = grouped_view(text_features, clusters)
    layout, tuned_grouped = view.layout, view.grouped
    tuned = view.features
    if frozen_r is None:
        frozen_r = frozen_factor(layout.gather(frozen_text_features.float().to(tuned.device)))
    aligned = align_to_tuned(frozen_r, tuned_grouped.detach()).to(tuned.dtype)
    per_cluster = (tuned_grouped - aligned).square().sum(dim=(1, 2)) / layout.sizes_as(tuned.dtype)
    keep = layout.multi_member_clusters
    return per_cluster[keep], layout.sizes[keep]


def procrustes_rotation_loss(
    text_features: torch.Tensor | GroupedFeatures,
    frozen_text_features: torch.Tensor,
    clusters: torch.Tensor | ClusterLayout,
    frozen_r: torch.Tensor | None = None,
    cluster_weighting: ClusterWeighting = "uniform",
    gradient_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """`L_rot = mean_C ||T_C - T0_C R_C||_F^2 / n` over clusters with n >= 2 (size-weighted with
    `cluster_weighting="size"`); a differentiable zero when no cluster qualifies. `clusters`: a `[K]`
    assignment or its `ClusterLayout`. `frozen_r`: the frozen side's `frozen_factor`, and `gradient_weights`:
    `rotation_gradient_weights` of the layout and the weighting, if already known (fixed for an installed
    assignment).
    """
    view = grouped_view(text_features, clusters)
    layout = view.layout
    if not layout.has_multi_member_cluster:
        return view.features.sum() * 0.0
    evaluator = _procrustes_evaluator(view, frozen_text_features, cluster_weighting, frozen_r, gradient_weights)
    return GridEvaluation(view, evaluator).value()


def _procrustes_evaluator(
    view: GroupedFeatures,
    frozen_text_features: torch.Tensor,
    weighting: ClusterWeighting,
    frozen_r: torch.Tensor | None,
    gradient_weights: torch.Tensor | None,
) -> GridEvaluator:
    layout = view.layout
    if frozen_r is None:
        frozen_r = frozen_factor(layout.gather(frozen_text_features.float().to(view.features.device)))
    if gradient_weights is None:
        gradient_weights = rotation_gradient_weights(layout, weighting)

    def evaluate(grid: GroupedFeatures, needs_text: bool, needs_image: bool) -> GridTermResult:
        tuned = grid.grouped
        aligned = align_to_tuned(frozen_r, tuned).to(tuned.dtype)  # the fixed target: no gradient of its own
        value, gradient = residual_mean_and_gradient(tuned, aligned, layout, weighting, gradient_weights, needs_text)
        return GridTermResult(value, grouped=gradient)

    return evaluate


def rotation_gradient_weights(layout: ClusterLayout, cluster_weighting: ClusterWeighting) -> torch.Tensor:
    """`[C, 1, 1]` float32: `2 w_C / n_C`, with `w_C` each cluster's share in `L_rot`'s average (`cluster_weights`),
    so that `d L_rot / d T_C = (2 w_C / n_C) (T_C - T0_C R_C)`."""
    weights = cluster_weights(layout.sizes, cluster_weighting, torch.float32) / layout.sizes_as(torch.float32)
    return (2.0 * weights).view(-1, 1, 1)


def residual_mean_and_gradient(
    tuned: torch.Tensor,
    aligned: torch.Tensor,
    layout: ClusterLayout,
    weighting: ClusterWeighting,
    gradient_weights: torch.Tensor,
    needs_gradient: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`cluster_mean` of `||T_C - A_C||_F^2 / n` over the clusters with n >= 2, the target `A` fixed, and its
    gradient with respect to `T` in closed form: `(2 w_C / n_C) (T_C - A_C)` (`rotation_gradient_weights`), zero
    in padded slots, where both grids are zero."""
    residual = tuned - aligned
    per_cluster = residual.square().sum(dim=(1, 2)) / layout.sizes_as(residual.dtype)
    keep = layout.multi_member_clusters
    sizes = layout.sizes.index_select(0, keep) if weighting == "size" else layout.sizes  # "uniform" reads none
    value = cluster_mean(per_cluster.index_select(0, keep), sizes, weighting)
    return value, (residual * gradient_weights if needs_gradient else None)


def centroid_anchor_loss(
    text_features: torch.Tensor | GroupedFeatures,
    frozen_text_features: torch.Tensor,
    clusters: torch.Tensor | ClusterLayout,
) -> torch.Tensor:
    """`mean_C (1 - cos(mu_C, mu0_C))` over all clusters, singletons included.

    Anchoring a cluster's centroid is a statement about the cluster's place
    in the global space, not about its inside, so singletons (whose centroid
    is the class itself) take part.
    """
    view = grouped_view(text_features, clusters)
    centroids = view.means
    frozen_centroids = view.layout.means(frozen_text_features.float().to(centroids.device))
    return (1.0 - F.cosine_similarity(centroids, frozen_centroids, dim=-1)).mean()


class RotationStabilizationTerm(LossTerm):
    """Anchors each cluster to its frozen self up to a rotation (logged as `rot`).

    Variants: `procrustes` (per-cluster orthogonal Procrustes, the rotation
    detached) and `centroid` (only the cluster centroids are anchored).
    `cluster_weighting` averages the Procrustes residuals over clusters alike
    ("uniform") or by size ("size").
    """

    name = "rot"
    needs_clusters = True
    needs_frozen_text = True

    def __init__(
        self,
        weight: float = 1.0,
        variant: Literal["procrustes", "centroid"] = "procrustes",
        cluster_weighting: ClusterWeighting = "uniform",
    ) -> None:
        super().__init__(weight)
        if variant not in ("procrustes", "centroid"):
            raise ValueError(f"RotationStabilizationTerm: variant must be 'procrustes' or 'centroid', got {variant!r}.")
        check_weighting("RotationStabilizationTerm", cluster_weighting)
        self.variant = variant
        self.cluster_weighting = cluster_weighting
        # (layout, frozen factor, slot weights) from `prepare`: t0 and the clusters are fixed for a fit, so
        # the frozen half of every step's Procrustes problem is factorised once per installed assignment.
        self._prepared: tuple[ClusterLayout, torch.Tensor, torch.Tensor] | None = None

    def prepare(self, clusters: ClusterLayout, frozen_text_features: torch.Tensor | None) -> None:
        self._prepared = None
        if self.variant == "procrustes" and frozen_text_features is not None and frozen_text_features.numel():
            device = clusters.index.device
            frozen_r = frozen_factor(clusters.gather(frozen_text_features.float().to(device)))
            self._prepared = (clusters, frozen_r, rotation_gradient_weights(clusters, self.cluster_weighting))

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        clusters = require_clusters(self.name, inputs)
        frozen = require_frozen_text(self.name, inputs)
        if self.variant == "centroid":
            return centroid_anchor_loss(inputs.grouped_text(clusters), frozen, clusters)
        evaluation = self.grid_evaluation(inputs)
        if evaluation is None:  # no cluster has two members
            return inputs.text_features.float().sum() * 0.0
        return evaluation.value()

    def grid_evaluation(self, inputs: LossInputs) -> GridEvaluation | None:
        """The `procrustes` variant on the step's grid; None for `centroid` and where no cluster has two members."""
        if self.variant != "procrustes":
            return None
        clusters = require_clusters(self.name, inputs)
        frozen = require_frozen_text(self.name, inputs)
        if not clusters.has_multi_member_cluster:
            return None
        prepared = self._prepared if self._prepared is not None and self._prepared[0] is clusters else None
        frozen_r, gradient_weights = (prepared[1], prepared[2]) if prepared is not None else (None, None)
        grid = inputs.grouped_text(clusters)
        evaluator = _procrustes_evaluator(grid, frozen, self.cluster_weighting, frozen_r, gradient_weights)
        return GridEvaluation(grid, evaluator)
