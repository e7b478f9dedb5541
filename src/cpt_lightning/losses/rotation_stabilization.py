"""Rotation stabilization: each cluster of tuned prototypes is a rotated frozen cluster.

Functional core (the per-cluster Procrustes residual, on the batched solver of
`clustering/procrustes.py`, and the centroid-only variant) plus `RotationStabilizationTerm`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

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
    slot_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """`L_rot = mean_C ||T_C - T0_C R_C||_F^2 / n` over clusters with n >= 2 (size-weighted with
    `cluster_weighting="size"`); a differentiable zero when no cluster qualifies. `clusters`: a `[K]`
    assignment or its `ClusterLayout`. `slot_weights`: `rotation_slot_weights` of the layout and the
    weighting, if already known (fixed for an installed assignment).
    """
    view = grouped_view(text_features, clusters)
    layout = view.layout
    if not layout.has_multi_member_cluster:
        return view.features.sum() * 0.0
    tuned = view.grouped
    if frozen_r is None:
        frozen_r = frozen_factor(layout.gather(frozen_text_features.float().to(tuned.device)))
    if slot_weights is None:
        slot_weights = rotation_slot_weights(layout, cluster_weighting)
    aligned = align_to_tuned(frozen_r, tuned).to(tuned.dtype)  # no gradient: it runs without one
    return _ResidualMean.apply(tuned, aligned, layout, cluster_weighting, slot_weights)


def rotation_slot_weights(layout: ClusterLayout, cluster_weighting: ClusterWeighting) -> torch.Tensor:
    """`[C, 1, 1]` float32: each cluster's share in `L_rot`'s average (`cluster_weights`) over its size, i.e.
    `d L_rot / d T_C = 2 w_C (T_C - T0_C R_C)`."""
    weights = cluster_weights(layout.sizes, cluster_weighting, torch.float32) / layout.sizes_as(torch.float32)
    return weights.view(-1, 1, 1)


class _ResidualMean(torch.autograd.Function):
    """`cluster_mean` of `||T_C - A_C||_F^2 / n` over the clusters with n >= 2, the target `A` fixed, with its
    gradient in closed form (`2 w_C (T_C - A_C)`, `rotation_slot_weights`) instead of the backward graph of
    the per-cluster sums, the selection and the mean; the value is computed by the very same ops."""

    @staticmethod
    def forward(
        ctx,
        tuned: torch.Tensor,
        aligned: torch.Tensor,
        layout: ClusterLayout,
        weighting: ClusterWeighting,
        slot_weights: torch.Tensor,
    ) -> torch.Tensor:
        residual = tuned - aligned
        per_cluster = residual.square().sum(dim=(1, 2)) / layout.sizes_as(residual.dtype)
        keep = layout.multi_member_clusters
        ctx.save_for_backward(residual, slot_weights)
        sizes = layout.sizes[keep] if weighting == "size" else layout.sizes  # "uniform" reads no sizes
        return cluster_mean(per_cluster[keep], sizes, weighting)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:
        residual, slot_weights = ctx.saved_tensors
        return residual * (slot_weights * (2.0 * grad)), None, None, None, None


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
            self._prepared = (clusters, frozen_r, rotation_slot_weights(clusters, self.cluster_weighting))

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        clusters = require_clusters(self.name, inputs)
        frozen = require_frozen_text(self.name, inputs)
        if self.variant == "procrustes":
            text = inputs.grouped_text(clusters)
            prepared = self._prepared if self._prepared is not None and self._prepared[0] is clusters else None
            if prepared is None:
                return procrustes_rotation_loss(text, frozen, clusters, cluster_weighting=self.cluster_weighting)
            return procrustes_rotation_loss(text, frozen, clusters, prepared[1], self.cluster_weighting, prepared[2])
        return centroid_anchor_loss(inputs.grouped_text(clusters), frozen, clusters)
