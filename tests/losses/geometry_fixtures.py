"""Constructed geometries for the NC-term tests: simplex ETFs and per-cluster rotations."""

from __future__ import annotations

import torch


def random_orthonormal_rows(rows: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """`rows` orthonormal vectors in R^dim, `[rows, dim]`."""
    q, _ = torch.linalg.qr(torch.randn(dim, rows, generator=generator, dtype=torch.float64))
    return q.T


def centred_simplex(n: int) -> torch.Tensor:
    """The n vertices of a regular simplex centred at 0, in R^n: `e_i - 1/n`."""
    return torch.eye(n, dtype=torch.float64) - 1.0 / n


def clustered_simplex_etf(sizes: list[int], dim: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit prototypes whose every cluster is a centred simplex ETF plus a cluster offset.

    Each cluster gets its own random orthonormal basis of `n + 1` directions:
    `n` carry the simplex, the last one an offset orthogonal to it, so all
    members have the same norm and stay an ETF around their mean after
    L2-normalisation. Classes are shuffled so clusters are not contiguous.
    Returns `(features [K, dim] float32, cluster_ids [K])`.
    """
    features, ids = [], []
    for cluster, n in enumerate(sizes):
        basis = random_orthonormal_rows(n + 1, dim, generator)
        offset = 0.7 * basis[n]
        features.append(centred_simplex(n) @ basis[:n] + offset)
        ids += [cluster] * n
    stacked = torch.nn.functional.normalize(torch.cat(features), dim=-1)
    perm = torch.randperm(stacked.shape[0], generator=generator)
    return stacked[perm].float(), torch.tensor(ids)[perm]
