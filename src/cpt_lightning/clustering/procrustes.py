"""Batched orthogonal Procrustes over padded clusters: the fixed targets of the rotation and simplex terms.

For a frozen cluster `X` and a tuned one `Y` (`[..., n, D]`, zero rows are padding) the target is
`X R` with `R = argmin_{R orthogonal} ||X R - Y||_F`, i.e. `R = U V^T` from the SVD of `X^T Y`. With
D = 512 and n <= 16 that `D x D` SVD is wasteful, so the frozen side is reduced once per fit by QR,
`X^T = Q1 R1` (`frozen_factor`), and every step works with the small `N = R1 Y` (`[..., m, D]`,
m = min(n, D)): `X^T Y = Q1 N`, so with the thin SVD `N = u s w^T`, `R = Q1 u w^T` on the span that
matters and `X R = R1^T u w^T`. Where `R` is not unique (n < D) this product still is whenever `Y`
has the rank of `X`, so it equals what `scipy.linalg.orthogonal_procrustes` gives; where `Y` has a
lower rank, `u w^T` still has orthonormal rows, i.e. it is one of the optimal rotations.

The tuned side needs no factorisation of its own (a QR of `Y^T` first would only turn `N` into the
square `R1 R2^T` with the same polar factor), and the SVD works on `N` itself, so its error grows
with `N`'s condition number, not its square as a route through `N N^T` would.
"""

from __future__ import annotations

import torch


def frozen_factor(frozen: torch.Tensor) -> torch.Tensor:
    """`R1` of `frozen^T = Q1 R1` in float64: the frozen side of `procrustes_align`, fixed for a whole fit."""
    with torch.no_grad():
        _, r1 = torch.linalg.qr(frozen.double().transpose(-1, -2))
    return r1


def align_to_tuned(frozen_r: torch.Tensor, tuned: torch.Tensor) -> torch.Tensor:
    """`frozen @ R` (float64) from the frozen side's `R1` (`frozen_factor`) and the tuned features."""
    if torch.is_grad_enabled():  # the target is fixed: it never records a graph
        with torch.no_grad():
            return _aligned(frozen_r, tuned)
    return _aligned(frozen_r, tuned)


def _aligned(frozen_r: torch.Tensor, tuned: torch.Tensor) -> torch.Tensor:
    # `bmm` for the cluster grid: `@` on 3-D tensors dispatches through expand/view/bmm/view every call.
    matmul = torch.bmm if frozen_r.dim() == 3 and tuned.dim() == 3 else torch.matmul
    # The SVD of `N^T` (`N^T = w s u^T`, so `u w^T` is the transpose of its own polar factor): LAPACK reads
    # column-major matrices, which a transposed view of the row-major `N` already is, so no batch of copies
    # is made for it.
    reduced = matmul(frozen_r, tuned.double())
    w, _, uh = torch.linalg.svd(reduced.transpose(-1, -2), full_matrices=False)
    return matmul(frozen_r.transpose(-1, -2), matmul(w, uh).transpose(-1, -2))


def procrustes_align(frozen: torch.Tensor, tuned: torch.Tensor) -> torch.Tensor:
    """Return `frozen @ R` for `R = argmin_{R orthogonal} ||frozen @ R - tuned||_F`, batched.

    `frozen`, `tuned`: `[..., n, D]` (zero rows are padding and stay zero). No gradient flows
    through the result (it is the fixed target).
    """
    return align_to_tuned(frozen_factor(frozen), tuned).to(frozen.dtype)
