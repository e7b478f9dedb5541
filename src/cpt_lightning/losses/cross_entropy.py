"""Cross-entropy over the prompt-tuned classifier: the CoOp objective."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.losses.base import LossInputs, LossTerm


class CrossEntropyTerm(LossTerm):
    """`CE(logits, y)`, optionally label-smoothed."""

    name = "ce"

    def __init__(self, weight: float = 1.0, label_smoothing: float = 0.0) -> None:
        super().__init__(weight)
        self.label_smoothing = label_smoothing

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        return F.cross_entropy(inputs.logits.float(), inputs.labels, label_smoothing=self.label_smoothing)
