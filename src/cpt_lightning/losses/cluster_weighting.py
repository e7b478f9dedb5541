"""How per-cluster values of a cluster term are averaged: every cluster alike, or by its size."""

from __future__ import annotations

from typing import Literal

import torch

ClusterWeighting = Literal["uniform", "size"]
CLUSTER_WEIGHTINGS = ("uniform", "size")


def cluster_mean(per_cluster: torch.Tensor, sizes: torch.Tensor, weighting: ClusterWeighting) -> torch.Tensor:
    """`mean_C v_C` ("uniform", method.md's reading) or `sum_C n_C v_C / sum_C n_C` ("size": every class
    counts once, so a large cluster weighs as much as its classes do)."""
    if weighting == "uniform":
        return per_cluster.mean()
    weights = sizes.to(per_cluster.dtype)
    return (per_cluster * weights).sum() / weights.sum()


def cluster_weights(sizes: torch.Tensor, weighting: ClusterWeighting, dtype: torch.dtype) -> torch.Tensor:
    """`[C]`: each cluster's share in `cluster_mean` over the clusters with >= 2 members (0 for a singleton),
    so that a term can fold the average into one weighted sum; all zero when no cluster has two members."""
    multi = (sizes >= 2).to(dtype)
    weights = multi if weighting == "uniform" else multi * sizes.to(dtype)
    return weights / weights.sum().clamp_min(1)


def check_weighting(owner: str, weighting: str) -> None:
    """Refuse an unknown weighting with the accepted names."""
    if weighting not in CLUSTER_WEIGHTINGS:
        raise ValueError(f"{owner}: cluster_weighting must be one of {CLUSTER_WEIGHTINGS}, got {weighting!r}.")
