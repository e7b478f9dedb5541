"""The NC terms' closed-form gradients against autograd.

The cores (`*_and_gradient`) against autograd of their plain formulas in float64, where the formula has a
kink too (a vector shorter than the eps `F.normalize` clamps at, a zero vector); the terms' functional
forms, which run through the one grid node of `clustering/grid_terms.py`, by `gradcheck` in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cpt_lightning.clustering.etf import etf_pair_weights, weighted_etf_deviation_and_gradient
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.clustering.procrustes import procrustes_align
from cpt_lightning.losses import etf_separation_loss, procrustes_rotation_loss
from cpt_lightning.losses.class_convergence import _WeightedCosineDistance, weighted_cosine_distance_and_gradients
from cpt_lightning.losses.rotation_stabilization import residual_mean_and_gradient, rotation_gradient_weights

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


def test_etf_deviation_equals_the_formula_and_its_autograd_gradient_with_a_clamped_vector():
    vectors, target, weights = _etf_inputs(torch.float64)
    vectors[0, 1] *= 3e-13 / vectors[0, 1].norm()  # a member (almost) at its cluster mean: divided by eps
    reference = vectors.clone().requires_grad_()
    value, gradient = weighted_etf_deviation_and_gradient(vectors, target, weights)
    expected = _etf_formula(reference, target, weights)
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
    expected.backward()
    torch.testing.assert_close(gradient, reference.grad, rtol=1e-10, atol=1e-12)
    padded = ~ClusterLayout.from_ids(IDS).mask
    assert torch.equal(gradient[padded], torch.zeros_like(gradient[padded]))  # the node's contract


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
    reference = [vectors.clone().requires_grad_(), prototypes.clone().requires_grad_()]
    value, *gradients = weighted_cosine_distance_and_gradients(vectors, prototypes, weights)
    expected = ((1.0 - F.cosine_similarity(*reference, dim=-1)) * weights).sum()
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
    expected.backward()
    for mine, theirs in zip(gradients, reference, strict=True):
        torch.testing.assert_close(mine, theirs.grad, rtol=1e-10, atol=1e-12)


def test_cosine_distance_gradient_is_finite_in_float32_for_a_zero_vector_left_out():
    # A singleton's centred prototype is exactly zero and its sample weighs 0: no 0/0 in the radial part.
    vectors, prototypes, weights = (t.float() for t in _cosine_inputs())
    prototypes[1] = 0.0
    reference = [vectors.clone().requires_grad_(), prototypes.clone().requires_grad_()]
    _, *gradients = weighted_cosine_distance_and_gradients(vectors, prototypes, weights)
    ((1.0 - F.cosine_similarity(*reference, dim=-1)) * weights).sum().backward()
    for mine, theirs in zip(gradients, reference, strict=True):
        assert torch.isfinite(mine).all()
        torch.testing.assert_close(mine, theirs.grad)


@pytest.mark.parametrize("weighting", ["uniform", "size"])
def test_rotation_residual_mean_is_the_cluster_mean_of_the_per_cluster_residuals_with_its_gradient(weighting):
    # Against the definition: ||T_C - A_C||^2 / n per cluster of >= 2 members, then averaged alike or by
    # size (singletons take no part; padded slots are zero on both sides, as the gathered prototypes and
    # the Procrustes targets are), and autograd of that definition with the target fixed.
    layout = ClusterLayout.from_ids(IDS)
    generator = torch.Generator().manual_seed(3)
    mask = layout.slot_mask_as(torch.float64)
    tuned = torch.randn(*layout.index.shape, 6, generator=generator, dtype=torch.float64) * mask
    aligned = torch.randn(*layout.index.shape, 6, generator=generator, dtype=torch.float64) * mask
    reference = tuned.clone().requires_grad_()
    per_cluster, sizes = [], []
    for c, n in enumerate(layout.sizes.tolist()):
        if n >= 2:
            per_cluster.append(((reference[c, :n] - aligned[c, :n]) ** 2).sum() / n)
            sizes.append(n)
    if weighting == "uniform":
        expected = sum(per_cluster) / len(per_cluster)
    else:
        expected = sum(v * n for v, n in zip(per_cluster, sizes, strict=True)) / sum(sizes)
    weights = rotation_gradient_weights(layout, weighting).double()
    value, gradient = residual_mean_and_gradient(tuned, aligned, layout, weighting, weights)
    assert float(value) == pytest.approx(float(expected.detach()), rel=1e-12)
    expected.backward()
    # The gradient weights 2 w_C / n_C are float32 (the features' dtype in training): equal to their rounding.
    torch.testing.assert_close(gradient, reference.grad, rtol=2 * torch.finfo(torch.float32).eps, atol=0)


# Through the grid node: float64 features stay float64 on the grid, so `gradcheck` sees the node's backward
# (the weighted gradients, the centring's backward and the scatter to the classes) against finite differences.
CLASS_IDS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3, 1, 0])  # sizes 4, 3, 2, 1: padding and a singleton


def _class_features(seed: int, classes: int = 10, dim: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(classes, dim, generator=generator, dtype=torch.float64), dim=-1)


@pytest.mark.parametrize("centred", [True, False])
def test_etf_separation_loss_passes_gradcheck_through_the_grid_node(centred):
    text = _class_features(4).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: etf_separation_loss(t, CLASS_IDS, centred), (text,))
    assert torch.autograd.gradcheck(lambda t: etf_separation_loss(t, None, centred=False), (text,))  # global


@pytest.mark.parametrize("weighting", ["uniform", "size"])
def test_procrustes_rotation_loss_passes_gradcheck_through_the_grid_node(weighting):
    # The rotation is detached, yet finite differences re-solve it: by the envelope theorem the gradient of
    # min_R ||T - T0 R||^2 is that of the residual at the optimal R, which is what the term sends back.
    frozen = _class_features(5).float()
    text = F.normalize(frozen.double() + 0.3 * _class_features(6), dim=-1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: procrustes_rotation_loss(t, frozen, CLASS_IDS, cluster_weighting=weighting), (text,)
    )


def test_procrustes_target_of_the_gradcheck_inputs_is_the_scipy_solution():
    # The gradcheck above differentiates the optimum, so its inputs must have a unique one: full-rank clusters.
    import scipy.linalg

    frozen = _class_features(5)
    text = F.normalize(frozen + 0.3 * _class_features(6), dim=-1)
    layout = ClusterLayout.from_ids(CLASS_IDS)
    aligned = procrustes_align(layout.gather(frozen), layout.gather(text))
    for c, n in enumerate(layout.sizes.tolist()):
        x, y = layout.gather(frozen)[c, :n].numpy(), layout.gather(text)[c, :n].numpy()
        rotation, _ = scipy.linalg.orthogonal_procrustes(x, y)
        torch.testing.assert_close(aligned[c, :n], torch.from_numpy(x @ rotation), rtol=0, atol=1e-10)
