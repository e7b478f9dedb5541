"""What every loss term receives, and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from cpt_lightning.clustering.grid_terms import GridEvaluation
from cpt_lightning.clustering.grouped import GroupedFeatures
from cpt_lightning.clustering.layout import ClusterLayout


@dataclass
class LossInputs:
    """Everything a training step knows, handed to each loss term.

    Features are L2-normalised. `text_features` holds one prompt-tuned
    prototype per *training* class; `frozen_text_features` the zero-shot
    ones (`t0`); `cluster_ids[k]` is class k's cluster in the
    cluster-invariant space, or None before the cluster callback ran.
    `clusters` is that assignment's `ClusterLayout`, built once when the
    assignment was installed (`CPTModule` passes it every step); without it a
    term builds the layout from `cluster_ids` for this call. `class_counts[k]`
    is the number of training images of class k (the long-tail terms' prior),
    or None when the data module does not know it.
    `grouped_text(layout)` is `text_features` on the layout's grid, built by
    the first cluster term that asks and shared by the others of this step.
    """

    logits: torch.Tensor  # [B, K]
    labels: torch.Tensor  # [B]
    image_features: torch.Tensor  # [B, D]
    text_features: torch.Tensor  # [K, D]
    frozen_text_features: torch.Tensor | None = None  # [K, D]
    cluster_ids: torch.Tensor | None = None  # [K], long
    clusters: ClusterLayout | None = None
    class_counts: torch.Tensor | None = None  # [K]
    _grouped_text: GroupedFeatures | None = field(default=None, init=False, repr=False, compare=False)

    def grouped_text(self, layout: ClusterLayout) -> GroupedFeatures:
        """`text_features` on `layout`'s grid: one gather and one set of cluster means for all terms of a step."""
        if self._grouped_text is None or self._grouped_text.layout is not layout:
            self._grouped_text = GroupedFeatures(self.text_features, layout)
        return self._grouped_text


class LossTerm(nn.Module):
    """One weighted term of the training objective.

    Subclasses set `name` (the key it is logged under, `train/loss_<name>`)
    and implement `forward(inputs) -> scalar`. A term that needs the cluster
    assignment, the frozen features or the training class counts says so with
    `needs_clusters` / `needs_frozen_text` / `needs_class_counts`, so the
    module can fail early with a clear error.
    A term with work that depends only on the assignment and `t0` (fixed for
    a fit) does it in `prepare`, which the module calls once per installed
    assignment. A cluster term whose value and gradients on the step's grid are
    known in closed form returns them from `grid_evaluation`, so that
    `LossCollection` evaluates the step's cluster terms under one autograd node
    (`clustering/grid_terms.py`); its `forward` gives the same value alone.
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

    def prepare(self, clusters: ClusterLayout, frozen_text_features: torch.Tensor | None) -> None:
        """Precompute what depends only on the installed assignment and `t0`; nothing by default."""

    def grid_evaluation(self, inputs: LossInputs) -> GridEvaluation | None:
        """This step's evaluation on the cluster grid, or None for a term (or variant) that autograd differentiates."""
        return None

    def forward(self, inputs: LossInputs) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError
