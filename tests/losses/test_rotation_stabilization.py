import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from cpt_lightning.clustering.procrustes import procrustes_align
from cpt_lightning.losses import LossInputs, RotationStabilizationTerm
from tests.losses.geometry_fixtures import random_orthonormal_rows


def frozen_and_ids(generator: torch.Generator, k: int = 24, dim: int = 16, clusters: int = 5):
    frozen = F.normalize(torch.randn(k, dim, generator=generator), dim=-1)
    ids = torch.randint(0, clusters, (k,), generator=generator)
    return frozen, ids


def inputs_for(tuned, frozen, ids) -> LossInputs:
    return LossInputs(
        logits=torch.zeros(1, tuned.shape[0]),
        labels=torch.zeros(1, dtype=torch.long),
        image_features=torch.zeros(1, tuned.shape[1]),
        text_features=tuned,
        frozen_text_features=frozen,
        cluster_ids=ids,
    )


def test_zero_when_every_cluster_is_the_frozen_one_rotated():
    generator = torch.Generator().manual_seed(0)
    frozen, ids = frozen_and_ids(generator)
    tuned = torch.empty_like(frozen)
    for cluster in ids.unique():
        rotation = random_orthonormal_rows(16, 16, generator).float()
        tuned[ids == cluster] = frozen[ids == cluster] @ rotation
    loss = RotationStabilizationTerm(variant="procrustes")(inputs_for(tuned, frozen, ids))
    assert loss.item() <= 1e-6


def test_positive_under_a_non_rigid_deformation():
    generator = torch.Generator().manual_seed(1)
    frozen, ids = frozen_and_ids(generator)
    stretch = torch.diag(torch.linspace(0.2, 3.0, 16))
    tuned = F.normalize(frozen @ stretch, dim=-1)
    loss = RotationStabilizationTerm(variant="procrustes")(inputs_for(tuned, frozen, ids))
    assert loss.item() > 1e-3


@pytest.mark.parametrize(("n", "dim"), [(6, 16), (16, 8), (1, 4)])
def test_procrustes_alignment_matches_scipy(n, dim):
    generator = torch.Generator().manual_seed(n * dim)
    frozen = torch.randn(n, dim, generator=generator)
    tuned = torch.randn(n, dim, generator=generator)
    rotation, _ = scipy.linalg.orthogonal_procrustes(frozen.double().numpy(), tuned.double().numpy())
    expected = frozen.double().numpy() @ rotation
    np.testing.assert_allclose(procrustes_align(frozen, tuned).numpy(), expected, atol=1e-5)


def test_padded_batched_alignment_matches_scipy_per_cluster():
    generator = torch.Generator().manual_seed(5)
    frozen = torch.randn(3, 7, 12, generator=generator)
    tuned = torch.randn(3, 7, 12, generator=generator)
    sizes = [7, 4, 2]
    for cluster, size in enumerate(sizes):
        frozen[cluster, size:] = 0
        tuned[cluster, size:] = 0
    aligned = procrustes_align(frozen, tuned)
    for cluster, size in enumerate(sizes):
        a, b = frozen[cluster, :size].double().numpy(), tuned[cluster, :size].double().numpy()
        rotation, _ = scipy.linalg.orthogonal_procrustes(a, b)
        np.testing.assert_allclose(aligned[cluster, :size].numpy(), a @ rotation, atol=1e-5)
        assert torch.all(aligned[cluster, size:] == 0)


def test_loss_matches_direct_per_cluster_computation_and_only_tuned_gets_gradient():
    generator = torch.Generator().manual_seed(6)
    frozen, ids = frozen_and_ids(generator)
    tuned = F.normalize(torch.randn(24, 16, generator=generator), dim=-1).requires_grad_()
    loss = RotationStabilizationTerm()(inputs_for(tuned, frozen, ids))
    values = []
    for cluster in ids.unique():
        a = frozen[ids == cluster].double().numpy()
        b = tuned[ids == cluster].detach().double().numpy()
        if len(a) < 2:
            continue
        rotation, _ = scipy.linalg.orthogonal_procrustes(a, b)
        values.append(np.sum((b - a @ rotation) ** 2) / len(a))
    assert loss.item() == pytest.approx(np.mean(values), rel=1e-5)
    loss.backward()
    assert tuned.grad is not None and tuned.grad.abs().sum() > 0


def test_centroid_variant_matches_formula_and_is_zero_at_the_frozen_prototypes():
    generator = torch.Generator().manual_seed(7)
    frozen, ids = frozen_and_ids(generator)
    term = RotationStabilizationTerm(variant="centroid")
    assert term(inputs_for(frozen.clone(), frozen, ids)).item() <= 1e-6
    tuned = F.normalize(torch.randn(24, 16, generator=generator), dim=-1)
    expected = np.mean(
        [1 - F.cosine_similarity(tuned[ids == c].mean(0), frozen[ids == c].mean(0), dim=0).item() for c in ids.unique()]
    )
    assert term(inputs_for(tuned, frozen, ids)).item() == pytest.approx(expected, rel=1e-5)


def test_missing_frozen_features_is_an_actionable_error():
    frozen, ids = frozen_and_ids(torch.Generator().manual_seed(8))
    with pytest.raises(RuntimeError, match="frozen zero-shot text features"):
        RotationStabilizationTerm()(inputs_for(frozen, None, ids))
