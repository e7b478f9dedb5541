"""The KgCoOp anchor: every tuned prototype stays close to its frozen one."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.losses._checks import require_frozen_text
from cpt_lightning.losses.base import LossInputs, LossTerm


def kgcoop_anchor_loss(text_features: torch.Tensor, frozen_text_features: torch.Tensor) -> torch.Tensor:
    """`mean_k (1 - cos(t_k, t0_k))`, in float32."""
    cosines = F.cosine_similarity(text_features.float(), frozen_text_features.float(), dim=-1)
    return (1.0 - cosines).mean()


class KgCoOpAnchorTerm(LossTerm):
    """KgCoOp's knowledge-guided anchor to the zero-shot prototypes (logged as `kgcoop`)."""

    name = "kgcoop"
    needs_frozen_text = True

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        return kgcoop_anchor_loss(inputs.text_features, require_frozen_text(self.name, inputs))
