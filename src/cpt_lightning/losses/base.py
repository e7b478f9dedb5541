"""What every loss term receives, and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LossInputs:
    """Everything a training step knows, handed to each loss term.

    Features are L2-normalised. `text_features` holds one prompt-tuned
    prototype per *training* class; `frozen_text_features` the zero-shot
    ones (`t0`); `cluster_ids[k]` is class k's cluster in the
    cluster-invariant space, or None before the cluster callback ran;
    `class_counts[k]` the number of training images of class k (the long-tail
    terms' prior), or None when the data module does not know it.
    """

    logits: torch.Tensor  # [B, K]
    labels: torch.Tensor  # [B]
    image_features: torch.Tensor  # [B, D]
    text_features: torch.Tensor  # [K, D]
    frozen_text_features: torch.Tensor | None = None  # [K, D]
    cluster_ids: torch.Tensor | None = None  # [K], long
    class_counts: torch.Tensor | None = None  # [K]


class LossTerm(nn.Module):
    """One weighted term of the training objective.

    Subclasses set `name` (the key it is logged under, `train/loss_<name>`)
    and implement `forward(inputs) -> scalar`. A term that needs the cluster
    assignment, the frozen features or the training class counts says so with
    `needs_clusters` / `needs_frozen_text` / `needs_class_counts`, so the
    module can fail early with a clear error.
    """

    name: str = "term"
    needs_clusters: bool = False
    needs_frozen_text: bool = False
    needs_class_counts: bool = False

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"{type(self).__name__}: weight must be >= 0, got {weight}.")
        self.weight = float(weight)

    def forward(self, inputs: LossInputs) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError
