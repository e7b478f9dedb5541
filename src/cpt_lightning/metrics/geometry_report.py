"""Per-cluster and per-group breakdowns of the geometry metrics, for inspecting a checkpoint.

`GeometryMetrics` logs averages (over clusters, over pairs, over all classes of a set); these
functions return the pieces those averages are made of, computed by the same functional cores, so a
plot of them agrees with the training log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from cpt_lightning.clustering.etf import etf_deviation_per_cluster
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.metrics.class_accuracy import group_names
from cpt_lightning.metrics.intra_cluster_cosine import intra_cluster_pairwise_cosines
from cpt_lightning.metrics.nc1 import nc1_statistics, nc1_within_class_variability


class PairCosines(NamedTuple):
    """One entry per unordered pair of classes in the same cluster: its cosine, its simplex target
    `-1/(n-1)` (n = the cluster's size) and the pair's cluster id."""

    cosine: torch.Tensor  # [P] float32
    target: torch.Tensor  # [P] float32
    cluster: torch.Tensor  # [P] long


def etf_deviation_by_cluster(
    text_features: torch.Tensor, cluster_ids: torch.Tensor, centred: bool = True
) -> dict[int, float]:
    """`{cluster id: ETF deviation}` for every cluster with >= 2 members (`etf_deviation_per_cluster`).

    The mean of the values is the logged `etf_deviation_cluster`; singletons have no pairs and no entry.
    """
    per_cluster = etf_deviation_per_cluster(text_features.detach(), cluster_ids, centred).tolist()
    ids, sizes = torch.unique(cluster_ids.cpu(), return_counts=True)
    return dict(zip(ids[sizes >= 2].tolist(), per_cluster, strict=True))


def intra_cluster_cosines(text_features: torch.Tensor, cluster_ids: torch.Tensor, centred: bool = False) -> PairCosines:
    """Cosines of every same-cluster pair, with the simplex target each is compared with.

    `centred=False`: cosines of the prototypes themselves (what `intra_cluster_cosine_mean/std`
    summarise). `centred=True`: cosines of `u_k = normalize(t_k - mu_C)`, the quantity the ETF
    separation loss and `etf_deviation_cluster` push towards `-1/(n-1)`; per cluster, the mean of
    `(cosine - target)^2` over its pairs is that cluster's ETF deviation.
    """
    features = text_features.detach().float()
    layout = ClusterLayout.from_ids(cluster_ids.to(features.device))
    if centred:
        features = features - layout.means(features)[layout.inverse]
    cosines = intra_cluster_pairwise_cosines(features, cluster_ids)
    # intra_cluster_pairwise_cosines lists pairs cluster by cluster (dense cluster order), n(n-1)/2 each.
    pairs_per_cluster = layout.sizes * (layout.sizes - 1) // 2
    targets = -1.0 / (layout.sizes - 1).clamp_min(1).float()
    cluster_of_dense = torch.unique(cluster_ids.to(features.device))
    return PairCosines(
        cosine=cosines,
        target=targets.repeat_interleave(pairs_per_cluster),
        cluster=cluster_of_dense.repeat_interleave(pairs_per_cluster),
    )


def nc1_by_group(features: torch.Tensor, labels: torch.Tensor, class_groups: Sequence[str]) -> dict[str, torch.Tensor]:
    """NC1 (`nc1_within_class_variability`) of the samples of each class group, over that group's classes.

    `class_groups[k]` is the group of label k; groups come head / medium / tail first. A group with
    fewer than two observed classes gets NaN, as NC1 itself does.
    """
    result = {}
    for group in group_names(class_groups):
        members = torch.tensor([g == group for g in class_groups], device=labels.device)
        selected = members[labels]
        # Relabel the group's classes 0..m-1 so that NC1 averages over this group only.
        new_label = torch.cumsum(members.long(), 0) - 1
        result[group] = nc1_within_class_variability(
            features[selected], new_label[labels[selected]], int(members.sum())
        )
    return result


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean feature of each class `[K, D]`, float64 (the class means NC1 is built on); NaN for unseen classes."""
    sums, counts, _ = nc1_statistics(features, labels, num_classes)
    return sums / counts.unsqueeze(-1)


def shared_pca_2d(feature_sets: Sequence[torch.Tensor], centre_each: bool = True) -> list[torch.Tensor]:
    """Project several `[N_i, D]` sets onto the top two principal axes of all of them together.

    One basis for every set, so frozen and tuned panels are comparable. `centre_each` removes each
    set's own mean first: image and text features sit in different cones of CLIP's space, and
    without it the first axis would show only that gap. Exact SVD (deterministic), each axis' sign
    fixed so its largest loading is positive.
    """
    sets = [s.detach().double().cpu() for s in feature_sets]
    if centre_each:
        sets = [s - s.mean(0) for s in sets]
    stacked = torch.cat(sets)
    mean = stacked.mean(0)
    _, _, vh = torch.linalg.svd(stacked - mean, full_matrices=False)
    axes = vh[:2]
    signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
    axes = axes * signs
    return [(s - mean) @ axes.T for s in sets]
