"""Batched orthogonal Procrustes over padded clusters: the fixed targets of the rotation and simplex terms.

For a frozen cluster `X` and a tuned one `Y` (`[..., n, D]`, zero rows are padding) the target is
`X R` with `R = argmin_{R orthogonal} ||X R - Y||_F`, i.e. `R = U V^T` from the SVD of `X^T Y`. With
D = 512 and n <= 16 that `D x D` SVD is wasteful, so the frozen side is reduced once per fit by QR,
`X^T = Q1 R1` (`frozen_factor`), and every step works with the small `N = R1 Y`: `X^T Y = Q1 N`, so
`X R = R1^T P` where `P` is the polar factor of `N` (`N = (N N^T)^{1/2} P`).

`P` comes from one batched symmetric eigen-decomposition of `N N^T = V diag(lam) V^T`:
`P = V diag(lam^{-1/2}) V^T N` on the eigen-directions that the frozen side's rank keeps. Where `N`
has the frozen side's full rank, `X R` is unique (`R`'s freedom lies in the null space of `X`), so
this is the same target as the SVD's. Squaring `N` squares its condition number, so a cluster whose
kept eigenvalues are not all above `EIGH_MIN_RATIO` times the largest -- a near-degenerate or
rank-deficient tuned cluster, where `X R` may not even be unique -- is solved by the SVD instead,
as before: QR of the tuned side, SVD of the small `R1 R2^T`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# Smallest kept eigenvalue of `N N^T` over the largest for the eigen route, i.e. condition number of
# `N` at most 1e3: its error grows like float64 eps times the squared condition number, which keeps
# it far below float32 resolution. Clusters below it take the SVD route.
EIGH_MIN_RATIO = 1e-6


class FrozenFactor(NamedTuple):
    """The frozen side of a batch of Procrustes problems, fixed for a fit (`frozen_factor`).

    `r` is `R1` of `frozen^T = Q1 R1` in float64 (`[..., m, n]`, m = min(n, D)); `first_kept`
    (`[..., 1]`, long) the first of the eigen-slots (ascending order) that the frozen rank keeps and
    `kept` (`[..., m]`, float64) 1 on those slots, 0 on the others.
    """

    r: torch.Tensor
    first_kept: torch.Tensor
    kept: torch.Tensor


def frozen_factor(frozen: torch.Tensor) -> FrozenFactor:
    """Factorise the frozen side `[..., n, D]` (floating point) once: `R1` in float64 and its numerical rank."""
    with torch.no_grad():
        _, r1 = torch.linalg.qr(frozen.double().transpose(-1, -2))
        singular = torch.linalg.svdvals(r1)
        slots = r1.shape[-2]
        # numpy's `matrix_rank` tolerance in the input's precision: a direction below the rounding of
        # `frozen` itself (a float32 simplex's rows sum to zero only up to float32 eps) is not one of X.
        tolerance = singular[..., :1] * max(r1.shape[-2:]) * torch.finfo(frozen.dtype).eps
        rank = (singular > tolerance).sum(-1, keepdim=True)
        first_kept = (slots - rank).clamp_max(slots - 1)
        kept = (torch.arange(slots, device=r1.device) >= slots - rank).double()
        return FrozenFactor(r1, first_kept, kept)


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # `bmm` for the cluster grid: `@` on 3-D tensors dispatches through expand/view/bmm/view every call.
    return torch.bmm(a, b) if a.dim() == 3 and b.dim() == 3 else a @ b


def align_to_tuned(frozen: FrozenFactor, tuned: torch.Tensor) -> torch.Tensor:
    """`frozen @ R` (float64) from the frozen side's factor (`frozen_factor`) and the tuned features.

    A frozen side of rank 0 (all zero) leaves every eigenvalue 0, so it takes the SVD route, which gives 0.
    """
    with torch.no_grad():
        n = _matmul(frozen.r, tuned.double())
        eigenvalues, vectors = torch.linalg.eigh(_matmul(n, n.transpose(-1, -2)))
        smallest_kept = eigenvalues.gather(-1, frozen.first_kept).squeeze(-1)
        solvable = smallest_kept > EIGH_MIN_RATIO * eigenvalues[..., -1]
        scale = eigenvalues.clamp_min(torch.finfo(torch.float64).tiny).rsqrt() * frozen.kept
        polar = _matmul(vectors * scale.unsqueeze(-2), _matmul(vectors.transpose(-1, -2), n))
        aligned = _matmul(frozen.r.transpose(-1, -2), polar)
        if not bool(solvable.all()):
            rest = ~solvable
            aligned[rest] = _align_by_svd(frozen.r[rest], tuned[rest])
        return aligned


def _align_by_svd(frozen_r: torch.Tensor, tuned: torch.Tensor) -> torch.Tensor:
    """The SVD route: `tuned^T = Q2 R2`, `R1 R2^T = u s v^T`, `frozen @ R = R1^T u v^T Q2^T`."""
    q2, r2 = torch.linalg.qr(tuned.double().transpose(-1, -2))
    u, _, vh = torch.linalg.svd(frozen_r @ r2.transpose(-1, -2))
    return frozen_r.transpose(-1, -2) @ u @ vh @ q2.transpose(-1, -2)


def procrustes_align(frozen: torch.Tensor, tuned: torch.Tensor) -> torch.Tensor:
    """Return `frozen @ R` for `R = argmin_{R orthogonal} ||frozen @ R - tuned||_F`, batched.

    `frozen`, `tuned`: `[..., n, D]` (zero rows are padding and stay zero). Where `R` is not unique
    (n < D) the product still is whenever the tuned side has the frozen side's rank, so it equals what
    `scipy.linalg.orthogonal_procrustes` gives. No gradient flows through the result (it is the
    fixed target).
    """
    return align_to_tuned(frozen_factor(frozen), tuned).to(frozen.dtype)
