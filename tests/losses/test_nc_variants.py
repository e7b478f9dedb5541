"""The NC terms' alternative readings: simplex target by Procrustes, size weighting, the global frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import orthogonal_procrustes

from cpt_lightning.losses import ClassConvergenceTerm, EtfSeparationTerm, LossInputs, RotationStabilizationTerm
from cpt_lightning.losses.etf_separation import simplex_residual_per_cluster, simplex_vertices
from tests.losses.geometry_fixtures import clustered_simplex_etf, random_orthonormal_rows

SIZES = [5, 3, 7, 2, 1, 4]


def _inputs(text, ids=None, frozen=None, image=None, labels=None) -> LossInputs:
    labels = torch.zeros(2, dtype=torch.long) if labels is None else labels
    image = torch.zeros(len(labels), text.shape[1]) if image is None else image
    return LossInputs(
        logits=torch.zeros(len(labels), text.shape[0]),
        labels=labels,
        image_features=image,
        text_features=text,
        frozen_text_features=frozen,
        cluster_ids=ids,
    )


def test_simplex_vertices_are_unit_with_cosine_minus_one_over_n_minus_one():
    vertices = simplex_vertices(4, 6).double()
    gram = vertices @ vertices.T
    expected = torch.full((4, 4), -1 / 3, dtype=torch.float64).fill_diagonal_(1.0)
    torch.testing.assert_close(gram, expected)
    with pytest.raises(ValueError, match="needs >= 5 dimensions"):
        simplex_vertices(5, 4)


def test_simplex_target_is_zero_on_an_etf_in_every_cluster_and_positive_off_it():
    text, ids = clustered_simplex_etf(SIZES, dim=32, generator=torch.Generator().manual_seed(0))
    term = EtfSeparationTerm(variant="cluster_simplex")
    assert term(_inputs(text, ids)).item() <= 1e-6
    noisy = F.normalize(text + 0.3 * torch.randn(text.shape, generator=torch.Generator().manual_seed(1)), dim=-1)
    assert term(_inputs(noisy, ids)).item() > 1e-3


def test_simplex_target_matches_scipy_procrustes_per_cluster():
    generator = torch.Generator().manual_seed(2)
    text = F.normalize(torch.randn(12, 16, generator=generator), dim=-1)
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 0, 2, 0, 3])  # sizes 5, 3, 3, 1 (the singleton is left out)
    expected = []
    for cluster in range(3):
        members = text[ids == cluster].double().numpy()
        units = members - members.mean(0)
        units /= np.linalg.norm(units, axis=1, keepdims=True)
        n = len(units)
        simplex = np.zeros((n, 16))
        simplex[:, :n] = (np.eye(n) - 1 / n) / np.sqrt((n - 1) / n)
        rotation, _ = orthogonal_procrustes(simplex, units)
        expected.append(np.sum((units - simplex @ rotation) ** 2) / n)
    got = simplex_residual_per_cluster(text, ids)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_simplex_target_of_a_cluster_larger_than_the_dimension_is_measured_in_r_n():
    # 5 prototypes in 2-D cannot form a 5-simplex: compare in R^5 against scipy on the zero-padded units.
    text = F.normalize(torch.randn(5, 2, generator=torch.Generator().manual_seed(7)), dim=-1)
    members = text.double().numpy()
    units = members - members.mean(0)
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    units = np.pad(units, ((0, 0), (0, 3)))
    simplex = (np.eye(5) - 1 / 5) / np.sqrt(4 / 5)
    rotation, _ = orthogonal_procrustes(simplex, units)
    expected = np.sum((units - simplex @ rotation) ** 2) / 5
    got = simplex_residual_per_cluster(text, torch.zeros(5, dtype=torch.long))
    assert got.item() == pytest.approx(expected, rel=1e-4) and got.item() > 0.1


def test_simplex_target_is_rotation_invariant_and_a_gradient_step_lowers_it():
    generator = torch.Generator().manual_seed(3)
    text = F.normalize(torch.randn(9, 12, generator=generator), dim=-1).requires_grad_(True)
    ids = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1])
    term = EtfSeparationTerm(variant="cluster_simplex")
    loss = term(_inputs(text, ids))
    rotation = random_orthonormal_rows(12, 12, generator).float()
    assert term(_inputs(text.detach() @ rotation, ids)).item() == pytest.approx(loss.item(), rel=1e-4)
    (grad,) = torch.autograd.grad(loss, text)
    assert term(_inputs(text.detach() - 0.05 * grad, ids)).item() < loss.item()


def test_two_member_clusters_are_always_a_simplex():
    # Centred, two points are antipodal: the 2-vertex simplex, whatever they are.
    text = F.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(4)), dim=-1)
    per_cluster = simplex_residual_per_cluster(text, torch.tensor([0, 1, 0, 1]))
    assert per_cluster.tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_size_weighting_of_the_etf_term_by_hand():
    # Uncentred: a 2-cluster of equal vectors deviates (1 + 1)^2 = 4 per pair, a 3-cluster of equal
    # vectors (1 + 1/2)^2 = 2.25. Uniform: (4 + 2.25) / 2 = 3.125; by size: (2 * 4 + 3 * 2.25) / 5 = 2.95.
    text = torch.tensor([[1.0, 0.0]] * 2 + [[0.0, 1.0]] * 3)
    ids = torch.tensor([0, 0, 1, 1, 1])
    uniform = EtfSeparationTerm(variant="cluster_uncentred")(_inputs(text, ids))
    by_size = EtfSeparationTerm(variant="cluster_uncentred", cluster_weighting="size")(_inputs(text, ids))
    assert uniform.item() == pytest.approx(3.125, rel=1e-6)
    assert by_size.item() == pytest.approx(2.95, rel=1e-6)
    with pytest.raises(ValueError, match="cluster_weighting must be one of"):
        EtfSeparationTerm(cluster_weighting="inverse")


def test_size_weighting_of_the_rotation_term():
    # Cluster 0 (2 classes) is its frozen self rotated: residual 0. Cluster 1 (4 classes) is not, residual r.
    # Uniform gives r / 2, by size 4 r / 6.
    generator = torch.Generator().manual_seed(5)
    frozen = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    rotation = random_orthonormal_rows(8, 8, generator).float()
    tuned = torch.cat([frozen[:2] @ rotation, F.normalize(torch.randn(4, 8, generator=generator), dim=-1)])
    ids = torch.tensor([0, 0, 1, 1, 1, 1])
    uniform = RotationStabilizationTerm()(_inputs(tuned, ids, frozen))
    by_size = RotationStabilizationTerm(cluster_weighting="size")(_inputs(tuned, ids, frozen))
    assert uniform.item() > 1e-3
    assert by_size.item() == pytest.approx(uniform.item() * 2 * 4 / 6, rel=1e-5)


def test_convergence_in_the_global_frame_by_hand():
    generator = torch.Generator().manual_seed(6)
    text = F.normalize(torch.randn(3, 5, generator=generator), dim=-1)
    image = torch.randn(6, 5, generator=generator)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    term = ClassConvergenceTerm(variant="global_centred")
    assert not term.needs_clusters
    loss = term(_inputs(text, None, image=image, labels=labels))
    # First batch: the running class means are the batch's class means; the image origin is their
    # mean (class-balanced), the text origin the mean prototype.
    class_means = np.stack([image[labels == k].numpy().mean(0) for k in range(3)])
    image_origin, text_origin = class_means.mean(0), text.numpy().mean(0)
    expected = []
    for f, y in zip(image.numpy(), labels.tolist(), strict=True):
        a, b = f - image_origin, text.numpy()[y] - text_origin
        expected.append(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert loss.item() == pytest.approx(float(np.mean(expected)), rel=1e-5)
