"""The step's cluster terms under one autograd node (`clustering/grid_terms.py`), against plain autograd."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from cpt_lightning.clustering.grid_terms import GridEvaluation, GridTermResult, evaluate_together
from cpt_lightning.clustering.grouped import GroupedFeatures
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses import (
    ClassConvergenceTerm,
    CrossEntropyTerm,
    EtfSeparationTerm,
    LossCollection,
    LossInputs,
    RotationStabilizationTerm,
)
from cpt_lightning.losses.class_convergence import cluster_image_origins

IDS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3, 1, 0, 2, 4])  # sizes 4, 3, 3, 1, 1
WEIGHTS = {"ce": 1.0, "etf": 0.5, "conv": 2.0, "rot": 1.5}


def _collection() -> LossCollection:
    return LossCollection(
        [
            CrossEntropyTerm(WEIGHTS["ce"]),
            EtfSeparationTerm(WEIGHTS["etf"]),
            ClassConvergenceTerm(WEIGHTS["conv"]),
            RotationStabilizationTerm(WEIGHTS["rot"]),
        ]
    )


def _step(seed: int, dim: int = 8, batch: int = 10):
    generator = torch.Generator().manual_seed(seed)
    classes = IDS.numel()
    frozen = F.normalize(torch.randn(classes, dim, generator=generator), dim=-1)
    text = F.normalize(frozen + 0.3 * torch.randn(classes, dim, generator=generator), dim=-1)
    image = F.normalize(torch.randn(batch, dim, generator=generator), dim=-1)
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return frozen, text, image, labels


def _reference_total(text, image, labels, frozen, origins) -> torch.Tensor:
    """method.md's objective written out per cluster, in float64, with the fixed parts (the Procrustes
    rotations, the image origins) computed on the side, as the terms detach them."""
    text, image, frozen, origins = text.double(), image.double(), frozen.double(), origins.double()
    ce = F.cross_entropy(50.0 * image @ text.T, labels)
    etf, rot, means = [], [], {}
    for cluster in IDS.unique().tolist():
        members = torch.nonzero(cluster == IDS).flatten()
        means[cluster] = text[members].mean(0)
        n = members.numel()
        if n < 2:
            continue
        units = F.normalize(text[members] - means[cluster], dim=-1)
        off_diagonal = ~torch.eye(n, dtype=torch.bool)
        etf.append(((units @ units.T + 1.0 / (n - 1))[off_diagonal] ** 2).mean())
        x, y = frozen[members].numpy(), text[members].detach().numpy()
        rotation = torch.from_numpy(scipy.linalg.orthogonal_procrustes(x, y)[0])
        rot.append(((text[members] - frozen[members] @ rotation) ** 2).sum() / n)
    cluster_of = {k: int(c) for k, c in enumerate(IDS.tolist())}
    sizes = torch.bincount(IDS)
    conv, kept = [], 0
    dense = {c: i for i, c in enumerate(IDS.unique().tolist())}
    for i, label in enumerate(labels.tolist()):
        cluster = cluster_of[label]
        if sizes[cluster] < 2:
            continue
        kept += 1
        conv.append(1 - F.cosine_similarity(image[i] - origins[dense[cluster]], text[label] - means[cluster], dim=0))
    terms = {"ce": ce, "etf": sum(etf) / len(etf), "conv": sum(conv) / kept, "rot": sum(rot) / len(rot)}
    return sum(WEIGHTS[name] * value for name, value in terms.items()), terms


@pytest.mark.parametrize("image_needs_gradient", [False, True])  # text-only host (CoOp) and IVLP
def test_the_collection_total_and_its_gradients_match_autograd_of_the_written_out_objective(image_needs_gradient):
    frozen, text, image, labels = _step(0)
    layout = ClusterLayout.from_ids(IDS)
    collection = _collection()
    collection.prepare(layout, frozen)
    collection.train()
    text.requires_grad_()
    image.requires_grad_(image_needs_gradient)
    inputs = LossInputs(50.0 * image @ text.T, labels, image, text, frozen, IDS, layout)
    total, values = collection(inputs)
    total.backward()
    conv = collection.terms["conv"]
    origins = cluster_image_origins(conv.class_image_means, conv.class_seen, layout)  # after this step's update
    reference_text, reference_image = text.detach().double().requires_grad_(), image.detach().double()
    reference_image.requires_grad_(image_needs_gradient)
    expected, expected_terms = _reference_total(reference_text, reference_image, labels, frozen, origins)
    expected.backward()
    for name, value in expected_terms.items():
        torch.testing.assert_close(values[name].double(), value.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(total.double(), expected.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(text.grad.double(), reference_text.grad, rtol=1e-4, atol=1e-6)
    if image_needs_gradient:
        torch.testing.assert_close(image.grad.double(), reference_image.grad, rtol=1e-4, atol=1e-6)
    else:
        assert image.grad is None


def test_the_cluster_terms_of_a_step_share_one_node_and_each_runs_once():
    frozen, text, image, labels = _step(1)
    layout = ClusterLayout.from_ids(IDS)
    grid = GroupedFeatures(text.requires_grad_(), layout)
    calls = []

    def evaluator(scale: float):
        def evaluate(view: GroupedFeatures, needs_text: bool, needs_image: bool) -> GridTermResult:
            calls.append((scale, needs_text, needs_image))
            grouped, mask = view.grouped, view.layout.slot_mask_as(view.grouped.dtype)
            return GridTermResult((grouped * scale).sum(), grouped=torch.full_like(grouped, scale) * mask)

        return evaluate

    evaluations = [GridEvaluation(grid, evaluator(2.0)), GridEvaluation(grid, evaluator(3.0))]
    total, values = evaluate_together(evaluations, [1.0, 0.5])
    assert calls == [(2.0, True, False), (3.0, True, False)]
    assert "GridTerms" in type(total.grad_fn).__name__  # one node, not the sum of two
    total.backward()
    # d/dT of sum(2 T) + 0.5 sum(3 T) over the real slots: 3.5 for every class entry.
    torch.testing.assert_close(text.grad, torch.full_like(text, 3.5))
    torch.testing.assert_close(total.detach(), values[0] + 0.5 * values[1])


def test_no_gradient_is_formed_or_recorded_when_none_is_needed():
    frozen, text, image, labels = _step(2)
    layout = ClusterLayout.from_ids(IDS)
    with_grad, without = _collection(), _collection()
    for collection in (with_grad, without):
        collection.prepare(layout, frozen)
        collection.train()
    text_with = text.clone().requires_grad_()
    total, values = with_grad(LossInputs(image @ text_with.T, labels, image, text_with, frozen, IDS, layout))
    with torch.no_grad():
        plain_total, plain_values = without(LossInputs(image @ text.T, labels, image, text, frozen, IDS, layout))
    assert not plain_total.requires_grad
    assert torch.equal(plain_total, total.detach())
    for name in values:
        assert torch.equal(plain_values[name], values[name].detach()), name


def test_half_precision_features_get_a_finite_gradient_in_their_own_dtype():
    frozen, text, image, labels = _step(3)
    layout = ClusterLayout.from_ids(IDS)
    gradients = {}
    for dtype in (torch.float32, torch.bfloat16):
        collection = _collection()
        collection.prepare(layout, frozen)
        collection.train()
        features = text.detach().to(dtype).requires_grad_()
        images = image.to(dtype)
        inputs = LossInputs((images @ features.T).float(), labels, images, features, frozen, IDS, layout)
        collection(inputs)[0].backward()
        assert features.grad.dtype == dtype and torch.isfinite(features.grad).all()
        gradients[dtype] = features.grad.float()
    scale = gradients[torch.float32].abs().max()
    assert (gradients[torch.bfloat16] - gradients[torch.float32]).abs().max() <= 0.05 * scale


def test_a_term_that_reads_the_shared_view_under_autograd_after_the_node_still_gets_its_gradient():
    frozen, text, image, labels = _step(4)
    layout = ClusterLayout.from_ids(IDS)
    text.requires_grad_()
    view = GroupedFeatures(text, layout)
    rotation = RotationStabilizationTerm()
    inputs = LossInputs(image @ text.T, labels, image, text, frozen, IDS, layout)
    inputs._grouped_text = view
    rotation.grid_evaluation(inputs).value()  # the node computes the grid on a detached copy
    assert "centred" not in view.__dict__ and view.centred.requires_grad
    mask = layout.slot_mask_as(torch.float32)
    (view.centred * mask).square().sum().backward()
    expected = (2 * (layout.gather(text.detach()) - layout.means(text.detach()).unsqueeze(1))) * mask
    torch.testing.assert_close(text.grad, GroupedFeatures(text.detach(), layout).class_gradient(None, expected))
    assert np.isfinite(text.grad.numpy()).all()


def test_the_cluster_terms_and_their_gradients_run_in_float32_under_autocast():
    # Their gradients are formed in the forward pass, where autocast would run the products in bfloat16.
    frozen, text, image, labels = _step(5)
    layout = ClusterLayout.from_ids(IDS)
    results = []
    for autocast in (False, True):
        collection = LossCollection(list(_collection().terms.values())[1:])  # the cluster terms only
        collection.prepare(layout, frozen)
        collection.train()
        features = text.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            total, _ = collection(LossInputs(None, labels, image, features, frozen, IDS, layout))
        total.backward()
        results.append((total.detach(), features.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
