"""The batched Procrustes solver (thin SVD of the reduced `R1 Y`) against scipy on padded, rank-deficient and
near-degenerate clusters."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from cpt_lightning.clustering.procrustes import align_to_tuned, frozen_factor

RNG_SEED = 11


def _orthonormal_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((dim, n)))
    return q.T


def _with_condition(rng: np.random.Generator, n: int, dim: int, log_condition: float) -> np.ndarray:
    """`[n, dim]` with singular values spread evenly (in log) from 1 down to `10^-log_condition`."""
    return (_orthonormal_rows(rng, n, n).T * np.logspace(0, -log_condition, n)) @ _orthonormal_rows(rng, n, dim)


def _padded(clusters: list[np.ndarray], slots: int, dim: int) -> torch.Tensor:
    grid = np.zeros((len(clusters), slots, dim))
    for c, rows in enumerate(clusters):
        grid[c, : len(rows)] = rows
    return torch.from_numpy(grid)


def _scipy_aligned(frozen: np.ndarray, tuned: np.ndarray) -> np.ndarray:
    rotation, _ = scipy.linalg.orthogonal_procrustes(frozen, tuned)
    return frozen @ rotation


def _check_per_cluster(frozen: list[np.ndarray], tuned: list[np.ndarray], atol: float) -> torch.Tensor:
    slots, dim = max(len(x) for x in frozen), frozen[0].shape[1]
    aligned = align_to_tuned(frozen_factor(_padded(frozen, slots, dim)), _padded(tuned, slots, dim))
    for c, (x, y) in enumerate(zip(frozen, tuned, strict=True)):
        np.testing.assert_allclose(aligned[c, : len(x)].numpy(), _scipy_aligned(x, y), rtol=0, atol=atol)
        assert torch.all(aligned[c, len(x) :] == 0)
    return aligned


def test_padded_clusters_of_every_size_match_scipy():
    rng = np.random.default_rng(RNG_SEED)
    sizes, dim = [15, 12, 5, 2, 1], 16
    frozen = [rng.standard_normal((n, dim)) for n in sizes]
    rotations = [scipy.linalg.qr(rng.standard_normal((dim, dim)))[0] for _ in sizes]
    tuned = [x @ r + 0.3 * rng.standard_normal(x.shape) for x, r in zip(frozen, rotations, strict=True)]
    _check_per_cluster(frozen, tuned, atol=1e-12)


def test_more_members_than_dimensions_match_scipy():
    rng = np.random.default_rng(RNG_SEED + 1)
    frozen = [rng.standard_normal((n, 4)) for n in (9, 6, 3)]
    tuned = [rng.standard_normal(x.shape) for x in frozen]
    _check_per_cluster(frozen, tuned, atol=1e-12)


@pytest.mark.parametrize("log_condition", [1, 2, 3, 4, 5, 6, 7])
def test_near_degenerate_tuned_clusters_match_scipy(log_condition):
    # The SVD of `N` itself: the error grows with the condition number (float64 eps times it), not
    # with its square, as a route through `N N^T` would.
    rng = np.random.default_rng(RNG_SEED + log_condition)
    frozen = [rng.standard_normal((n, 16)) for n in (15, 10, 4)]
    tuned = [_with_condition(rng, len(x), 16, log_condition) for x in frozen]
    _check_per_cluster(frozen, tuned, atol=1e-13 * 10.0**log_condition)


def test_rank_deficient_frozen_clusters_match_scipy():
    # Duplicated frozen classes and an exact simplex (rows summing to zero): X R is still unique.
    rng = np.random.default_rng(RNG_SEED + 20)
    duplicated = rng.standard_normal((6, 16))
    duplicated[3] = duplicated[0]
    simplex = np.zeros((8, 16))
    simplex[:, :8] = (np.eye(8) - 1 / 8) / np.sqrt(7 / 8)
    frozen = [duplicated, simplex]
    tuned = [rng.standard_normal(x.shape) for x in frozen]
    _check_per_cluster(frozen, tuned, atol=1e-12)


def test_rank_deficient_tuned_cluster_gets_an_orthogonal_rotation_with_scipys_residual():
    # Tuned of lower rank than frozen: R is not unique on X's span, but every optimal R is orthogonal
    # (||X R|| = ||X||) and gives the same, minimal residual.
    rng = np.random.default_rng(RNG_SEED + 30)
    frozen = [rng.standard_normal((7, 16)), rng.standard_normal((5, 16))]
    tuned = [rng.standard_normal((7, 2)) @ rng.standard_normal((2, 16)), np.zeros((5, 16))]
    aligned = align_to_tuned(frozen_factor(_padded(frozen, 7, 16)), _padded(tuned, 7, 16))
    for c, (x, y) in enumerate(zip(frozen, tuned, strict=True)):
        got = aligned[c, : len(x)].numpy()
        assert np.linalg.norm(got) == pytest.approx(np.linalg.norm(x), rel=1e-12)
        expected = np.sum((y - _scipy_aligned(x, y)) ** 2)
        assert np.sum((y - got) ** 2) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_a_zero_frozen_cluster_aligns_to_zero():
    tuned = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    frozen = torch.zeros_like(tuned)
    frozen[1] = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    aligned = align_to_tuned(frozen_factor(frozen), tuned)
    assert torch.all(aligned[0] == 0)
    np.testing.assert_allclose(aligned[1].numpy(), _scipy_aligned(frozen[1].numpy(), tuned[1].numpy()), atol=1e-12)
