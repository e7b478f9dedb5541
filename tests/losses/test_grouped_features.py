"""One gather per step for all cluster terms: the shared view equals its definitions; sharing it changes no value."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.grouped import GroupedFeatures
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses import (
    ClassConvergenceTerm,
    CrossEntropyTerm,
    EtfSeparationTerm,
    LossInputs,
    RotationStabilizationTerm,
)
from cpt_lightning.losses.collection import LossCollection


def test_flat_slot_and_centred_rows_equal_their_definitions():
    ids = torch.tensor([3, 3, 7, 1, 7, 3, 9])
    layout = ClusterLayout.from_ids(ids)
    assert torch.equal(layout.index.flatten()[layout.flat_slot], torch.arange(7))
    features = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    view = GroupedFeatures(features, layout)
    for k in range(7):
        members = (ids == ids[k]).nonzero().flatten()
        expected = features[k] - features[members].mean(0)
        torch.testing.assert_close(view.centred_rows(torch.tensor([k]))[0], expected)
    torch.testing.assert_close(view.means, torch.stack([features[ids == c].mean(0) for c in (1, 3, 7, 9)]))
    membership = layout.membership_as(torch.float64)
    for c, cluster in enumerate((1, 3, 7, 9)):
        assert membership[c].tolist() == (ids == cluster).double().tolist()


def _step_inputs(generator: torch.Generator, frozen: torch.Tensor, ids: torch.Tensor, layout: ClusterLayout):
    text = F.normalize(frozen + 0.1 * torch.randn(frozen.shape, generator=generator), dim=-1).requires_grad_()
    image = F.normalize(torch.randn(16, frozen.shape[1], generator=generator), dim=-1)
    labels = torch.randint(0, frozen.shape[0], (16,), generator=generator)
    return text, LossInputs(image @ text.t() * 50.0, labels, image, text, frozen, ids, layout)


def _fresh(inputs: LossInputs) -> LossInputs:
    """The same step's inputs without the view another term may have built on them."""
    fields = ("logits", "labels", "image_features", "text_features", "frozen_text_features", "cluster_ids", "clusters")
    return LossInputs(**{name: getattr(inputs, name) for name in fields})


def test_the_collection_with_a_shared_view_gives_each_term_its_value_computed_alone():
    # Alone, each term gets fresh inputs (its own gather); in the collection the terms share one.
    generator = torch.Generator().manual_seed(1)
    frozen = F.normalize(torch.randn(24, 8, generator=generator), dim=-1)
    ids = torch.randint(0, 5, (24,), generator=generator)
    ids[0] = 99  # a singleton
    layout = ClusterLayout.from_ids(ids)
    for singletons in ("skip", "global_frame"):
        terms = [
            CrossEntropyTerm(),
            EtfSeparationTerm(weight=0.5),
            ClassConvergenceTerm(weight=2.0, singletons=singletons),
            RotationStabilizationTerm(),
        ]
        shared = LossCollection(terms)
        shared.prepare(layout, frozen)
        alone = LossCollection([type(t)(**{"weight": t.weight}) for t in terms[:2]])
        conv_alone = ClassConvergenceTerm(weight=2.0, singletons=singletons)
        rot_alone = RotationStabilizationTerm()
        rot_alone.prepare(layout, frozen)
        for _ in range(3):  # the running image means evolve alike on both sides
            text, inputs = _step_inputs(generator, frozen, ids, layout)
            total, values = shared(inputs)
            expected = {
                "ce": alone.terms["ce"](_fresh(inputs)),
                "etf": alone.terms["etf"](_fresh(inputs)),
                "conv": conv_alone(_fresh(inputs)),
                "rot": rot_alone(_fresh(inputs)),
            }
            for name, value in expected.items():
                assert torch.equal(values[name], value.float()), name
            weighted = sum(t.weight * expected[t.name] for t in terms)
            # The cluster terms are summed inside their node and then added to the others, so the float32
            # sum runs in another order than this one: equal to a few roundings of the total.
            torch.testing.assert_close(total, weighted, rtol=4 * torch.finfo(torch.float32).eps, atol=0)
            (grad,) = torch.autograd.grad(total, text, retain_graph=True)
            (expected_grad,) = torch.autograd.grad(weighted, text)
            torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-7)
