import numpy as np
import pytest
import torch

from cpt_lightning.losses import EtfSeparationTerm, LossInputs, etf_separation_loss
from tests.losses.geometry_fixtures import centred_simplex, clustered_simplex_etf, random_orthonormal_rows

SIZES = [5, 3, 7, 2, 1, 4]


def numpy_etf_loss(features: np.ndarray, ids: np.ndarray, centred: bool) -> float:
    """Direct loop over clusters and pairs, straight from method.md."""
    values = []
    for cluster in np.unique(ids):
        members = features[ids == cluster].astype(np.float64)
        n = len(members)
        if n < 2:
            continue
        if centred:
            members = members - members.mean(0)
        units = members / np.linalg.norm(members, axis=1, keepdims=True)
        pairs = [(units[i] @ units[j] + 1 / (n - 1)) ** 2 for i in range(n) for j in range(n) if i != j]
        values.append(np.mean(pairs))
    return float(np.mean(values))


def inputs_for(text: torch.Tensor, ids: torch.Tensor | None) -> LossInputs:
    k = text.shape[0]
    return LossInputs(
        logits=torch.zeros(2, k),
        labels=torch.zeros(2, dtype=torch.long),
        image_features=torch.zeros(2, text.shape[1]),
        text_features=text,
        cluster_ids=ids,
    )


def test_zero_on_a_simplex_etf_inside_every_cluster():
    text, ids = clustered_simplex_etf(SIZES, dim=32, generator=torch.Generator().manual_seed(0))
    loss = EtfSeparationTerm(variant="cluster_centred")(inputs_for(text, ids))
    assert loss.item() <= 1e-6


def test_uncentred_variant_sees_the_cluster_offset():
    # Same geometry: raw cosines include the shared offset, so they are not -1/(n-1).
    text, ids = clustered_simplex_etf(SIZES, dim=32, generator=torch.Generator().manual_seed(0))
    loss = EtfSeparationTerm(variant="cluster_uncentred")(inputs_for(text, ids))
    assert loss.item() > 1e-2


@pytest.mark.parametrize("centred", [True, False])
def test_matches_direct_numpy_computation_on_random_prototypes(centred):
    generator = torch.Generator().manual_seed(1)
    text = torch.nn.functional.normalize(torch.randn(23, 16, generator=generator), dim=-1)
    ids = torch.randint(0, 6, (23,), generator=generator)
    expected = numpy_etf_loss(text.numpy(), ids.numpy(), centred)
    assert expected > 0
    assert etf_separation_loss(text, ids, centred).item() == pytest.approx(expected, rel=1e-5)


def test_one_gradient_step_lowers_it():
    generator = torch.Generator().manual_seed(2)
    raw = torch.randn(20, 16, generator=generator, requires_grad=True)
    ids = torch.randint(0, 4, (20,), generator=generator)
    term = EtfSeparationTerm(variant="cluster_centred")
    before = term(inputs_for(torch.nn.functional.normalize(raw, dim=-1), ids))
    before.backward()
    with torch.no_grad():
        raw -= 0.05 * raw.grad
    after = term(inputs_for(torch.nn.functional.normalize(raw, dim=-1), ids))
    assert after.item() < before.item()


def test_global_variant_is_zero_on_a_global_simplex_etf_and_needs_no_clusters():
    basis = random_orthonormal_rows(9, 16, torch.Generator().manual_seed(3))
    text = torch.nn.functional.normalize(centred_simplex(9) @ basis, dim=-1).float()
    term = EtfSeparationTerm(variant="global")
    assert not term.needs_clusters
    assert term(inputs_for(text, None)).item() <= 1e-6
    assert term(inputs_for(torch.nn.functional.normalize(torch.randn(9, 16), dim=-1), None)).item() > 0


def test_half_precision_input_gives_a_finite_float32_loss():
    text, ids = clustered_simplex_etf(SIZES, dim=32, generator=torch.Generator().manual_seed(4))
    loss = etf_separation_loss(text.half(), ids)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_only_singletons_give_a_differentiable_zero():
    text = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1).requires_grad_()
    loss = etf_separation_loss(text, torch.arange(3))
    loss.backward()
    assert loss.item() == 0.0 and text.grad is not None


def test_cluster_variant_without_clusters_says_what_to_add():
    with pytest.raises(RuntimeError, match="ClusterAssignmentCallback"):
        EtfSeparationTerm()(inputs_for(torch.randn(4, 8), None))
