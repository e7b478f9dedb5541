"""Rotation stabilization: each cluster of tuned prototypes is a rotated frozen cluster.

Functional core (batched orthogonal Procrustes over padded clusters, and the
centroid-only variant) plus `RotationStabilizationTerm`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses._checks import require_clusters, require_frozen_text
from cpt_lightning.losses.base import LossInputs, LossTerm


def procrustes_align(frozen: torch.Tensor, tuned: torch.Tensor) -> torch.Tensor:
    """Return `frozen @ R` for `R = argmin_{R orthogonal} ||frozen @ R - tuned||_F`, batched.

    `frozen`, `tuned`: `[..., n, D]` (zero rows are padding and stay zero).
    The textbook solution is `R = U V^T` from the SVD of the `D x D` matrix
    `frozen^T tuned`; with D = 512 and n <= 16 that SVD is wasteful, so both
    sides are first reduced by QR (`frozen^T = Q1 R1`, `tuned^T = Q2 R2`):
    `frozen^T tuned = Q1 (R1 R2^T) Q2^T`, and the SVD of the small
    `R1 R2^T = u s v^T` gives `R = Q1 u v^T Q2^T` on the span that matters,
    hence `frozen @ R = R1^T u v^T Q2^T`. Where `R` is not unique (n < D) this
    product still is, so it equals what `scipy.linalg.orthogonal_procrustes`
    gives. No gradient flows through the result (it is the fixed target).
    """
    with torch.no_grad():
        frozen64, tuned64 = frozen.double(), tuned.double()
        q1, r1 = torch.linalg.qr(frozen64.transpose(-1, -2))
        q2, r2 = torch.linalg.qr(tuned64.transpose(-1, -2))
        u, _, vh = torch.linalg.svd(r1 @ r2.transpose(-1, -2))
        aligned = r1.transpose(-1, -2) @ u @ vh @ q2.transpose(-1, -2)
    return aligned.to(frozen.dtype)


def procrustes_rotation_loss(
    text_features: torch.Tensor, frozen_text_features: torch.Tensor, cluster_ids: torch.Tensor
) -> torch.Tensor:
    """`L_rot = mean_C ||T_C - T0_C R_C||_F^2 / n` over clusters with n >= 2.

    A singleton can always be rotated onto its target exactly, so it carries
    no signal and is left out. Differentiable zero when no cluster qualifies.
    """
    tuned = text_features.float()
    layout = ClusterLayout.from_ids(cluster_ids.to(tuned.device))
    tuned_grouped = layout.gather(tuned)
    frozen_grouped = layout.gather(frozen_text_features.float().to(tuned.device))
    aligned = procrustes_align(frozen_grouped, tuned_grouped.detach())
    sizes = layout.sizes.to(tuned.dtype)
    per_cluster = (tuned_grouped - aligned).square().sum(dim=(1, 2)) / sizes
    keep = layout.sizes >= 2
    if not bool(keep.any()):
        return tuned.sum() * 0.0
    return per_cluster[keep].mean()


def centroid_anchor_loss(
    text_features: torch.Tensor, frozen_text_features: torch.Tensor, cluster_ids: torch.Tensor
) -> torch.Tensor:
    """`mean_C (1 - cos(mu_C, mu0_C))` over all clusters, singletons included.

    Anchoring a cluster's centroid is a statement about the cluster's place
    in the global space, not about its inside, so singletons (whose centroid
    is the class itself) take part.
    """
    tuned = text_features.float()
    layout = ClusterLayout.from_ids(cluster_ids.to(tuned.device))
    centroids = layout.means(tuned)
    frozen_centroids = layout.means(frozen_text_features.float().to(tuned.device))
    return (1.0 - F.cosine_similarity(centroids, frozen_centroids, dim=-1)).mean()


class RotationStabilizationTerm(LossTerm):
    """Anchors each cluster to its frozen self up to a rotation (logged as `rot`).

    Variants: `procrustes` (per-cluster orthogonal Procrustes, the rotation
    detached) and `centroid` (only the cluster centroids are anchored).
    """

    name = "rot"
    needs_clusters = True
    needs_frozen_text = True

    def __init__(self, weight: float = 1.0, variant: Literal["procrustes", "centroid"] = "procrustes") -> None:
        super().__init__(weight)
        if variant not in ("procrustes", "centroid"):
            raise ValueError(f"RotationStabilizationTerm: variant must be 'procrustes' or 'centroid', got {variant!r}.")
        self.variant = variant

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        cluster_ids = require_clusters(self.name, inputs)
        frozen = require_frozen_text(self.name, inputs)
        if self.variant == "procrustes":
            return procrustes_rotation_loss(inputs.text_features, frozen, cluster_ids)
        return centroid_anchor_loss(inputs.text_features, frozen, cluster_ids)
