"""Logit-adjusted cross-entropy (Menon et al., ICLR 2021): the long-tail baseline LIFT relies on.

Training adds `tau_la * log pi_y` (the log class prior) to every logit before the softmax, so a
tail class must win by a larger margin; evaluation uses the plain logits, which the module does
anyway (a loss term never changes the classifier). Functional core plus the loss term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.losses._checks import require_class_counts
from cpt_lightning.losses.base import LossInputs, LossTerm


def log_prior(class_counts: torch.Tensor) -> torch.Tensor:
    """`log pi_k = log(n_k / sum n)` in float32; every count must be positive."""
    counts = class_counts.float()
    if bool((counts <= 0).any()):
        raise ValueError(
            f"Class counts must all be positive (a class without training images has no prior); got "
            f"{counts.tolist()}. Drop the empty classes or fix the training split."
        )
    return counts.log() - counts.sum().log()


def logit_adjusted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, class_counts: torch.Tensor, tau_la: float = 1.0
) -> torch.Tensor:
    """`CE(logits + tau_la * log pi, y)`, mean over the batch, in float32."""
    adjustment = tau_la * log_prior(class_counts.to(logits.device))
    return F.cross_entropy(logits.float() + adjustment, labels)


class LogitAdjustedCrossEntropyTerm(LossTerm):
    """Cross-entropy on prior-adjusted logits, replacing `CrossEntropyTerm` (logged as `la`).

    `tau_la` scales the adjustment: 0 is plain cross-entropy, 1 (Menon et al.'s default) the
    Bayes-optimal correction for a balanced test set.
    """

    name = "la"
    needs_class_counts = True

    def __init__(self, weight: float = 1.0, tau_la: float = 1.0) -> None:
        super().__init__(weight)
        if tau_la < 0:
            raise ValueError(f"LogitAdjustedCrossEntropyTerm: tau_la must be >= 0, got {tau_la}.")
        self.tau_la = float(tau_la)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        counts = require_class_counts(self.name, inputs)
        return logit_adjusted_cross_entropy(inputs.logits, inputs.labels, counts, self.tau_la)
