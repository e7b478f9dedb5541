"""Assigning classes to clusters of at most S members: the cluster-invariant space.

Pure function over frozen text features; the Lightning side (when, on which
rank, where it is stored) lives in `callbacks/cluster_assignment.py`.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans

ClusterMethod = Literal["cosine", "euclidean", "agglomerative_cosine", "random"]
CLUSTER_METHODS: tuple[str, ...] = ("cosine", "euclidean", "agglomerative_cosine", "random")


def check_cluster_settings(max_cluster_size: int, method: str, owner: str = "assign_clusters") -> None:
    """Raise a `ValueError` naming `owner` unless `method` is known and `max_cluster_size >= 1`."""
    if method not in CLUSTER_METHODS:
        raise ValueError(f"{owner}: method must be one of {CLUSTER_METHODS}, got {method!r}.")
    if max_cluster_size < 1:
        raise ValueError(f"{owner}: max_cluster_size must be >= 1, got {max_cluster_size}.")


def assign_clusters(
    features: np.ndarray | torch.Tensor,
    max_cluster_size: int = 16,
    method: ClusterMethod = "cosine",
    seed: int = 0,
) -> torch.Tensor:
    """Cluster K class features into clusters of at most `max_cluster_size` classes.

    First `ceil(K / S)` clusters with `method` -- `cosine`: k-means on
    L2-normalised features (spherical k-means up to the centroid norm);
    `euclidean`: k-means on the raw features; `agglomerative_cosine`:
    average-linkage agglomerative clustering with cosine distance; `random`:
    chunks of S of a seeded permutation -- then every cluster larger than S is
    split again with the same method until none is. Clusters are numbered
    by their smallest class index, so the result is canonical. Returns
    `LongTensor[K]` of cluster ids `0..C-1`; the same inputs and seed give
    the same assignment.
    """
    check_cluster_settings(max_cluster_size, method)
    points = _as_float64_matrix(features)
    if method == "cosine":
        points = points / np.linalg.norm(points, axis=1, keepdims=True).clip(min=1e-12)
    num_classes = points.shape[0]

    if method == "random":
        order = np.random.default_rng(seed).permutation(num_classes)
        groups = [order[start : start + max_cluster_size] for start in range(0, num_classes, max_cluster_size)]
    else:
        groups = _split_until_small(points, np.arange(num_classes), max_cluster_size, method, seed)

    cluster_ids = torch.empty(num_classes, dtype=torch.long)
    for rank, group in enumerate(sorted(groups, key=lambda members: int(members.min()))):
        cluster_ids[torch.as_tensor(group)] = rank
    return cluster_ids


def _as_float64_matrix(features: np.ndarray | torch.Tensor) -> np.ndarray:
    array = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else features
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"assign_clusters: expected features of shape [K, D] with K >= 1, got {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError("assign_clusters: features contain NaN or inf; check the frozen text features.")
    return array


def _split_until_small(
    points: np.ndarray, members: np.ndarray, max_size: int, method: str, seed: int
) -> list[np.ndarray]:
    """Partition `members` into ceil(n/S) parts, then recurse into parts still larger than S."""
    pending, done = [members], []
    while pending:
        group = pending.pop()
        if len(group) <= max_size:
            done.append(group)
            continue
        labels = _partition(points[group], math.ceil(len(group) / max_size), method, seed)
        parts = [group[labels == label] for label in np.unique(labels)]
        if len(parts) == 1:
            # Identical points cannot be separated by any method; split them in index order.
            parts = [group[start : start + max_size] for start in range(0, len(group), max_size)]
        pending.extend(parts)
    return done


def _partition(points: np.ndarray, n_clusters: int, method: str, seed: int) -> np.ndarray:
    if method == "agglomerative_cosine":
        return AgglomerativeClustering(n_clusters=n_clusters, metric="cosine", linkage="average").fit_predict(points)
    with warnings.catch_warnings():
        # Duplicate points make k-means find fewer distinct clusters; _split_until_small handles that.
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(points)
