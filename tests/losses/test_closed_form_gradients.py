"""The NC terms' hand-written backward passes against autograd: `gradcheck` in float64, and autograd of the
plain formula where the formula has a kink (a vector shorter than the eps `F.normalize` clamps at)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cpt_lightning.clustering.etf import _WeightedEtfDeviation, etf_pair_weights
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses.class_convergence import _WeightedCosineDistance
from cpt_lightning.losses.rotation_stabilization import _ResidualMean, rotation_slot_weights

IDS = torch.tensor([0, 0, 0, 1, 1, 2, 0, 1, 3, 3])  # sizes 4, 3, 1, 2: padding and a singleton


def _etf_inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    layout = ClusterLayout.from_ids(IDS)
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(*layout.index.shape, 6, generator=generator, dtype=dtype)  # padded slots too
    target, _ = layout.pair_targets_as(dtype)
    weights = etf_pair_weights(layout, torch.rand(4, generator=generator, dtype=dtype))
    return vectors, target, weights


def _etf_formula(vectors: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    units = F.normalize(vectors, dim=-1)
    return ((units @ units.transpose(1, 2) - target).square() * weights).sum()


def test_etf_deviation_backward_passes_gradcheck():
    vectors, target, weights = _etf_inputs(torch.float64)
    vectors.requires_grad_()
    assert torch.autograd.gradcheck(_WeightedEtfDeviation.apply, (vectors, target, weights))


def test_etf_deviation_equals_the_formula_and_its_autograd_gradient_with_a_clamped_vector():
    vectors, target, weights = _etf_inputs(torch.float64)
    vectors[0, 1] *= 3e-13 / vectors[0, 1].norm()  # a member (almost) at its cluster mean: divided by eps
    ours, reference = vectors.clone().requires_grad_(), vectors.clone().requires_grad_()
    value = _WeightedEtfDeviation.apply(ours, target, weights)
    expected = _etf_formula(reference, target, weights)
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
    value.backward()
    expected.backward()
    torch.testing.assert_close(ours.grad, reference.grad, rtol=1e-10, atol=1e-12)


def _cosine_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    vectors = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    prototypes = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    kept = torch.tensor([1, 0, 1, 1, 0, 1, 1], dtype=torch.float64)
    return vectors, prototypes, kept / kept.sum()


def test_cosine_distance_backward_passes_gradcheck_for_either_side():
    vectors, prototypes, weights = _cosine_inputs()
    both = (vectors.clone().requires_grad_(), prototypes.clone().requires_grad_(), weights)
    assert torch.autograd.gradcheck(_WeightedCosineDistance.apply, both)
    prototypes_only = (vectors, prototypes.clone().requires_grad_(), weights)
    assert torch.autograd.gradcheck(_WeightedCosineDistance.apply, prototypes_only)


def test_cosine_distance_equals_the_formula_and_its_autograd_gradient_with_clamped_and_zero_vectors():
    vectors, prototypes, weights = _cosine_inputs()
    vectors[0] *= 3e-9 / vectors[0].norm()  # below cosine_similarity's eps
    prototypes[2] = 0.0
    ours = [vectors.clone().requires_grad_(), prototypes.clone().requires_grad_()]
    reference = [vectors.clone().requires_grad_(), prototypes.clone().requires_grad_()]
    value = _WeightedCosineDistance.apply(*ours, weights)
    expected = ((1.0 - F.cosine_similarity(*reference, dim=-1)) * weights).sum()
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
    value.backward()
    expected.backward()
    for mine, theirs in zip(ours, reference, strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("weighting", ["uniform", "size"])
def test_rotation_residual_mean_backward_passes_gradcheck(weighting):
    layout = ClusterLayout.from_ids(IDS)
    generator = torch.Generator().manual_seed(2)
    tuned = torch.randn(*layout.index.shape, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    aligned = torch.randn(*layout.index.shape, 6, generator=generator, dtype=torch.float64)
    weights = rotation_slot_weights(layout, weighting)
    assert torch.autograd.gradcheck(lambda t: _ResidualMean.apply(t, aligned, layout, weighting, weights), (tuned,))


@pytest.mark.parametrize("weighting", ["uniform", "size"])
def test_rotation_residual_mean_is_the_cluster_mean_of_the_per_cluster_residuals(weighting):
    # Against the definition: ||T_C - A_C||^2 / n per cluster of >= 2 members, then averaged alike or by
    # size (singletons take no part; padded slots are zero on both sides, as the gathered prototypes and
    # the Procrustes targets are).
    layout = ClusterLayout.from_ids(IDS)
    generator = torch.Generator().manual_seed(3)
    mask = layout.slot_mask_as(torch.float64)
    tuned = torch.randn(*layout.index.shape, 6, generator=generator, dtype=torch.float64) * mask
    aligned = torch.randn(*layout.index.shape, 6, generator=generator, dtype=torch.float64) * mask
    per_cluster, sizes = [], []
    for c, n in enumerate(layout.sizes.tolist()):
        if n >= 2:
            per_cluster.append(float(((tuned[c, :n] - aligned[c, :n]) ** 2).sum()) / n)
            sizes.append(n)
    if weighting == "uniform":
        expected = sum(per_cluster) / len(per_cluster)
    else:
        expected = sum(v * n for v, n in zip(per_cluster, sizes, strict=True)) / sum(sizes)
    value = _ResidualMean.apply(tuned, aligned, layout, weighting, rotation_slot_weights(layout, weighting))
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_cosine_distance_gradient_is_finite_in_float32_for_a_zero_vector_left_out():
    # A singleton's centred prototype is exactly zero and its sample weighs 0: no 0/0 in the radial part.
    vectors, prototypes, weights = (t.float() for t in _cosine_inputs())
    prototypes[1] = 0.0
    ours = [vectors.clone().requires_grad_(), prototypes.clone().requires_grad_()]
    reference = [vectors.clone().requires_grad_(), prototypes.clone().requires_grad_()]
    _WeightedCosineDistance.apply(*ours, weights).backward()
    ((1.0 - F.cosine_similarity(*reference, dim=-1)) * weights).sum().backward()
    for mine, theirs in zip(ours, reference, strict=True):
        assert torch.isfinite(mine.grad).all()
        torch.testing.assert_close(mine.grad, theirs.grad)
