"""Simplex-ETF deviation inside each cluster: the one core the ETF loss and the ETF metrics share.

A simplex equiangular tight frame of n unit vectors has every pairwise cosine equal to `-1/(n-1)`;
this module measures how far each cluster's prototypes are from that shape. The loss
(`losses/etf_separation.py`) averages it with gradients, the metrics (`metrics/etf_deviation.py`,
`metrics/geometry_report.py`) report it; both import it from here so neither imports the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.grid_terms import GridEvaluation, GridEvaluator, GridTermResult
from cpt_lightning.clustering.grouped import GroupedFeatures, grouped_view
from cpt_lightning.clustering.layout import ClusterLayout


def etf_deviation_per_cluster(
    text_features: torch.Tensor | GroupedFeatures,
    clusters: torch.Tensor | ClusterLayout | None = None,
    centred: bool = True,
) -> torch.Tensor:
    """Per cluster with n >= 2 members, `mean_{i != j} (u_i . u_j + 1/(n-1))^2`, in float32.

    `u_k = normalize(t_k - mu_C)` when `centred`, else `normalize(t_k)`. `text_features` is `[K, D]`
    or a step's `GroupedFeatures` (then `clusters` is its layout's and not needed); `clusters` is a
    `[K]` assignment or its prebuilt `ClusterLayout`; None treats all classes as one cluster (the
    global view). Singleton clusters have no pairs and are left out, so the result has one entry per
    cluster of size >= 2 (possibly none).
    """
    view = grouped_view(text_features, clusters)
    layout = view.layout
    grouped = view.centred if centred else view.grouped  # [C, S, D]
    units = F.normalize(grouped, dim=-1) * layout.slot_mask_as(grouped.dtype)
    cosines = units @ units.transpose(1, 2)  # [C, S, S]

    target, pairs = layout.pair_targets_as(grouped.dtype)  # singletons are dropped below
    squared = (cosines - target).square() * layout.pair_mask
    per_cluster = squared.sum(dim=(1, 2)) / pairs
    return per_cluster[layout.multi_member_clusters]


def etf_pair_weights(layout: ClusterLayout, cluster_weights: torch.Tensor) -> torch.Tensor:
    """`[C, S, S]`: `cluster_weights[c] / (n (n - 1))` on the pairs of distinct members of cluster c, 0 elsewhere,
    so that `weighted_etf_deviation` is `sum_C cluster_weights[C] * deviation_C` (padding and singletons weigh 0)."""
    _, pairs = layout.pair_targets_as(cluster_weights.dtype)
    return layout.pair_mask * (cluster_weights / pairs).view(-1, 1, 1)


def weighted_etf_deviation(
    text_features: torch.Tensor | GroupedFeatures,
    pair_weights: torch.Tensor,
    clusters: torch.Tensor | ClusterLayout | None = None,
    centred: bool = True,
) -> torch.Tensor:
    """`sum_C w_C * deviation_C` (`etf_deviation_per_cluster`) in one weighted sum over the cluster grid,
    differentiable (one node, `clustering/grid_terms.py`).

    `pair_weights` comes from `etf_pair_weights` on the same layout; padded slots are never masked
    because every pair that involves one weighs 0.
    """
    view = grouped_view(text_features, clusters)
    return GridEvaluation(view, etf_deviation_evaluator(pair_weights, centred)).value()


def etf_deviation_evaluator(pair_weights: torch.Tensor, centred: bool) -> GridEvaluator:
    """`weighted_etf_deviation` on a grid, with its gradient with respect to the centred (or raw) grid."""

    def evaluate(grid: GroupedFeatures, needs_text: bool, needs_image: bool) -> GridTermResult:
        vectors = grid.centred if centred else grid.grouped
        target, _ = grid.layout.pair_targets_as(vectors.dtype)
        value, gradient = weighted_etf_deviation_and_gradient(vectors, target, pair_weights, needs_text)
        return GridTermResult(value, centred=gradient) if centred else GridTermResult(value, grouped=gradient)

    return evaluate


# `F.normalize`'s default: a vector shorter than this is divided by it instead of by its norm.
_NORMALIZE_EPS = 1e-12


def weighted_etf_deviation_and_gradient(
    vectors: torch.Tensor, target: torch.Tensor, pair_weights: torch.Tensor, needs_gradient: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`sum(W * (u u^T - target)^2)` with `u = F.normalize(vectors, dim=-1)`, and its gradient in closed form.

    With `W` symmetric, the gradient with respect to `u` is `4 (W * e) u` (`e` the cosine error); through
    the normalisation it is `(g - u (u . g)) / |v|`, or `g / eps` where the norm is clamped, exactly as
    autograd differentiates `F.normalize`. A slot whose pairs all weigh 0 (padding) gets a zero gradient.
    """
    norms = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    divisor = norms.clamp_min(_NORMALIZE_EPS)
    units = vectors / divisor
    error = torch.bmm(units, units.transpose(1, 2)) - target
    weighted = error * pair_weights
    value = (weighted * error).sum()
    if not needs_gradient:
        return value, None
    grad_units = torch.baddbmm(units, weighted, units, beta=0.0, alpha=4.0)  # `4 (W * e) u`; beta 0 ignores the first
    radial = (grad_units * units).sum(-1, keepdim=True) * (norms > _NORMALIZE_EPS)
    return value, (grad_units - radial * units) / divisor
