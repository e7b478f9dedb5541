"""Balanced softmax (Ren et al., NeurIPS 2020): cross-entropy over `logits + log n`.

The softmax is reweighted by each class's training count during training only; at evaluation the
plain logits are used. Per row it equals logit adjustment with `tau_la = 1` (the two shifts differ
by `log sum n`, the same for every class, which a softmax ignores), kept as its own term because
papers report it under its own name. Functional core plus the loss term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.losses._checks import require_class_counts
from cpt_lightning.losses.base import LossInputs, LossTerm
from cpt_lightning.losses.logit_adjusted import log_prior


def balanced_softmax_loss(logits: torch.Tensor, labels: torch.Tensor, class_counts: torch.Tensor) -> torch.Tensor:
    """`CE(logits + log n, y)`, mean over the batch, in float32."""
    log_prior(class_counts)  # the same check: every count positive
    return F.cross_entropy(logits.float() + class_counts.to(logits.device).float().log(), labels)


class BalancedSoftmaxTerm(LossTerm):
    """Balanced-softmax cross-entropy, replacing `CrossEntropyTerm` (logged as `bs`)."""

    name = "bs"
    needs_class_counts = True

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        return balanced_softmax_loss(inputs.logits, inputs.labels, require_class_counts(self.name, inputs))
