"""Logit adjustment and balanced softmax against hand-computed cases and their shared invariant."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cpt_lightning.losses import (
    BalancedSoftmaxTerm,
    LogitAdjustedCrossEntropyTerm,
    LossInputs,
    balanced_softmax_loss,
    logit_adjusted_cross_entropy,
)


def _inputs(logits: torch.Tensor, labels: list[int], counts: list[int] | None) -> LossInputs:
    return LossInputs(
        logits=logits,
        labels=torch.tensor(labels),
        image_features=torch.zeros(len(labels), 2),
        text_features=torch.zeros(logits.shape[1], 2),
        class_counts=None if counts is None else torch.tensor(counts),
    )


def test_logit_adjustment_of_zero_logits_is_minus_log_prior():
    # Zero logits + log pi: the softmax is the prior itself, pi = (8, 4, 2) / 14, so the loss of a
    # label is -log pi_y. Labels 0 and 2: (log(14/8) + log(14/2)) / 2.
    expected = (math.log(14 / 8) + math.log(7)) / 2
    term = LogitAdjustedCrossEntropyTerm()
    assert term(_inputs(torch.zeros(2, 3), [0, 2], [8, 4, 2])).item() == pytest.approx(expected, rel=1e-6)
    assert term.needs_class_counts and not term.needs_clusters


def test_logit_adjustment_scales_with_tau():
    # tau = 1/2: the softmax of zero logits + log(pi) / 2 is proportional to sqrt(n) = (2 sqrt 2, 2, sqrt 2),
    # so label 0 costs -log(2 sqrt 2 / (3 sqrt 2 + 2)); tau = 0 is plain cross-entropy: log 3.
    half = logit_adjusted_cross_entropy(torch.zeros(1, 3), torch.tensor([0]), torch.tensor([8, 4, 2]), tau_la=0.5)
    assert half.item() == pytest.approx(-math.log(2 * math.sqrt(2) / (3 * math.sqrt(2) + 2)), rel=1e-6)
    zero = logit_adjusted_cross_entropy(torch.zeros(1, 3), torch.tensor([0]), torch.tensor([8, 4, 2]), tau_la=0.0)
    assert zero.item() == pytest.approx(math.log(3), rel=1e-6)


def test_balanced_softmax_cancels_logits_that_mirror_the_counts():
    # Logits (0, log 2, log 4) plus log n = log (4, 2, 1) are log 4 for every class: uniform, log 3 for any label.
    logits = torch.tensor([[0.0, math.log(2), math.log(4)]]).repeat(3, 1)
    term = BalancedSoftmaxTerm(weight=0.5)
    assert term(_inputs(logits, [0, 1, 2], [4, 2, 1])).item() == pytest.approx(math.log(3), rel=1e-6)


def test_uniform_counts_give_plain_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(5, 4, generator=generator), torch.tensor([0, 1, 2, 3, 1])
    plain = F.cross_entropy(logits, labels)
    counts = torch.full((4,), 7)
    assert logit_adjusted_cross_entropy(logits, labels, counts).item() == pytest.approx(plain.item(), rel=1e-6)
    assert balanced_softmax_loss(logits, labels, counts).item() == pytest.approx(plain.item(), rel=1e-6)


def test_logit_adjustment_at_tau_one_equals_balanced_softmax():
    # log pi = log n - log sum n: a constant per row, which the softmax ignores.
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 5, generator=generator, requires_grad=True)
    labels, counts = torch.tensor([0, 4, 2, 2, 1, 3]), torch.tensor([16, 9, 4, 2, 1])
    adjusted = logit_adjusted_cross_entropy(logits, labels, counts, tau_la=1.0)
    balanced = balanced_softmax_loss(logits, labels, counts)
    assert adjusted.item() == pytest.approx(balanced.item(), rel=1e-6)
    (grad_adjusted,) = torch.autograd.grad(adjusted, logits)
    (grad_balanced,) = torch.autograd.grad(balanced, logits)
    torch.testing.assert_close(grad_adjusted, grad_balanced)


def test_missing_or_bad_counts_are_actionable_errors():
    with pytest.raises(RuntimeError, match="needs the training count of every class"):
        LogitAdjustedCrossEntropyTerm()(_inputs(torch.zeros(1, 3), [0], None))
    with pytest.raises(RuntimeError, match="2 entries for 3 classes"):
        BalancedSoftmaxTerm()(_inputs(torch.zeros(1, 3), [0], [1, 2]))
    with pytest.raises(ValueError, match="must all be positive"):
        logit_adjusted_cross_entropy(torch.zeros(1, 2), torch.tensor([0]), torch.tensor([3, 0]))
    with pytest.raises(ValueError, match="tau_la must be >= 0"):
        LogitAdjustedCrossEntropyTerm(tau_la=-1.0)
