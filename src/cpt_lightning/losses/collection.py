"""A named collection of loss terms: the weighted sum, and each term for logging."""

from __future__ import annotations

import torch
from torch import nn

from cpt_lightning.clustering.grid_terms import evaluate_together
from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses.base import LossInputs, LossTerm


class LossCollection(nn.Module):
    """Sums `weight * term(inputs)` over its terms and reports every term unweighted.

    Terms are addressed by their `name`; two terms with the same name are an
    error because their logs would collide.
    """

    def __init__(self, terms: list[LossTerm]) -> None:
        super().__init__()
        names = [term.name for term in terms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"Loss terms must have distinct names; {duplicates} appear more than once. "
                "Remove the duplicate entry from `model.loss_terms`."
            )
        self.terms = nn.ModuleDict({term.name: term for term in terms})

    @property
    def needs_clusters(self) -> bool:
        return any(term.needs_clusters and term.weight > 0 for term in self.terms.values())

    @property
    def needs_class_counts(self) -> bool:
        return any(term.needs_class_counts and term.weight > 0 for term in self.terms.values())

    @property
    def needs_frozen_text(self) -> bool:
        return any(term.needs_frozen_text and term.weight > 0 for term in self.terms.values())

    def prepare(self, clusters: ClusterLayout, frozen_text_features: torch.Tensor | None) -> None:
        """Let every term precompute what depends only on the installed assignment and `t0`."""
        for term in self.terms.values():
            term.prepare(clusters, frozen_text_features)

    def forward(self, inputs: LossInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return `(total, {name: unweighted value})`; terms of weight 0 are skipped.

        The cluster terms with a closed-form evaluation on the step's grid are evaluated together, under
        one autograd node whose output is their weighted sum (`clustering/grid_terms.py`); their values
        are reported as each term gives them alone, for logging. Backpropagate `total`.
        """
        active = {name: term for name, term in self.terms.items() if term.weight != 0}
        evaluations = {name: term.grid_evaluation(inputs) for name, term in active.items()}
        on_grid = [name for name, evaluation in evaluations.items() if evaluation is not None]
        grid_total, grid_values = None, {}
        if on_grid:
            grid_total, computed = evaluate_together(
                [evaluations[name] for name in on_grid], [active[name].weight for name in on_grid]
            )
            grid_values = dict(zip(on_grid, computed, strict=True))
        values: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for name, term in active.items():
            if name in grid_values:
                values[name] = grid_values[name].float()
                continue
            value = term(inputs).float()
            values[name] = value
            # Exactly `total + weight * value` from a zero start, without the ops (and their backward
            # nodes) that adding to zero and scaling by one would cost every step.
            weighted = value if term.weight == 1.0 else term.weight * value
            total = weighted if total is None else total + weighted
        if grid_total is not None:
            total = grid_total if total is None else total + grid_total.float()
        if total is None:
            total = inputs.logits.new_zeros((), dtype=torch.float32)
        return total, values
