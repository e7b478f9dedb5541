"""One autograd node between a step's class features and every cluster term evaluated on their grid.

The cluster terms of a step (ETF separation, class convergence, rotation stabilisation) read the same
`GroupedFeatures` grid, and each knows its gradient in closed form. Evaluated one by one under
autograd, every term records its own graph, and the grid records the gather, the cluster means and
the centring. At the sizes prompts are tuned at (clusters of up to 16 classes, tens to hundreds of
dimensions) each recorded operator and each backward node costs more than its arithmetic, on a CPU
in dispatch and on a GPU in kernel launches. So the terms of one step are evaluated together, under
one node: each returns its value and its gradients with respect to the grid (`grouped`), the grid's
centred form (`centred`) and the image features (`GridTermResult`), computed while their operands
are at hand. The node's output is the terms' weighted sum, so their gradients are weighed, taken back
through the centring and scattered to the classes in the same pass, and the backward only scales the
result; the terms' values come back beside it, for reporting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from cpt_lightning.clustering.grouped import GroupedFeatures


class GridTermResult(NamedTuple):
    """One term's value on a grid and its gradients; None where it does not depend on that input, or where
    the gradient is not needed.

    `grouped` and `centred` are `[C, S, D]` and zero in padded slots. `centred_rows` is a gradient with respect
    to a few rows of the centred grid flattened to `[C * S, D]`: `(rows, values)` of shapes `[R]` and `[R, D]`,
    rows possibly repeated (a batch's classes), so that a term that reads single rows sends back only them.
    `image` is `[B, D]`.
    """

    value: torch.Tensor
    grouped: torch.Tensor | None = None
    centred: torch.Tensor | None = None
    centred_rows: tuple[torch.Tensor, torch.Tensor] | None = None
    image: torch.Tensor | None = None


# `(grid, text gradient needed, image gradient needed) -> GridTermResult`, run without autograd.
GridEvaluator = Callable[[GroupedFeatures, bool, bool], GridTermResult]


class GridEvaluation(NamedTuple):
    """A term's evaluator with the grid it reads (and the image features, for a term that reads them), so
    that the terms of a step on one grid share one node (`evaluate_together`)."""

    grid: GroupedFeatures
    evaluate: GridEvaluator
    image_features: torch.Tensor | None = None

    def value(self) -> torch.Tensor:
        """This term's value alone, differentiable through a node of its own."""
        return evaluate_on_grid(self.grid, self.image_features, [self.evaluate], [1.0])[0]


def evaluate_together(
    evaluations: Sequence[GridEvaluation], weights: Sequence[float]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """`(sum_j weights[j] * value_j, [value_j])` of `evaluations`: the sum differentiable, through one node per
    grid they read; the values in their order, for reporting (backpropagate the sum)."""
    groups: dict[int, list[int]] = {}
    for position, evaluation in enumerate(evaluations):
        groups.setdefault(id(evaluation.grid), []).append(position)
    values: list[torch.Tensor] = [torch.empty(0)] * len(evaluations)
    total: torch.Tensor | None = None
    for positions in groups.values():
        members = [evaluations[position] for position in positions]
        images = {id(m.image_features): m.image_features for m in members if m.image_features is not None}
        if len(images) > 1:
            raise ValueError("Terms evaluated on one grid must read the same image features (one step's).")
        group_total, group_values = evaluate_on_grid(
            members[0].grid,
            next(iter(images.values()), None),
            [m.evaluate for m in members],
            [weights[position] for position in positions],
        )
        for position, value in zip(positions, group_values, strict=True):
            values[position] = value
        total = group_total if total is None else total + group_total
    if total is None:
        raise ValueError("evaluate_together needs at least one evaluation.")
    return total, values


def evaluate_on_grid(
    grid: GroupedFeatures,
    image_features: torch.Tensor | None,
    evaluators: Sequence[GridEvaluator],
    weights: Sequence[float],
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """`(sum_j weights[j] * value_j, [value_j])` of the evaluators on `grid`: the sum differentiable with
    respect to the grid's source features (`[K, D]`) and `image_features` (`[B, D]`, None when no evaluator
    reads it), through one autograd node whose gradient is formed while the values are; the values for
    reporting."""
    image = image_features if image_features is not None else grid.source.new_empty(0)
    values: list[torch.Tensor] = []
    total = _GridTerms.apply(grid.source, image, grid.without_graph(), tuple(evaluators), tuple(weights), values)
    return total, values


def _weighed(total: torch.Tensor | None, part: torch.Tensor | None, weight: float) -> torch.Tensor | None:
    """`total + weight * part`, where either may be absent; `part` itself at weight 1 (a term's gradient,
    which is this node's to add into)."""
    if part is None:
        return total
    if total is None:
        return part if weight == 1.0 else part * weight
    return total.add_(part, alpha=weight)


class _GridTerms(torch.autograd.Function):
    @staticmethod
    def forward(ctx, source, image, grid, evaluators, weights, values):
        needs_text, needs_image = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_autocast_enabled(source.device.type):
            # The terms' math is float32 (their gradients, formed here, would otherwise run at autocast's
            # precision, as they would not in a backward pass).
            with torch.autocast(source.device.type, enabled=False):
                results = [evaluate(grid, needs_text, needs_image) for evaluate in evaluators]
        else:
            results = [evaluate(grid, needs_text, needs_image) for evaluate in evaluators]
        values.extend(result.value for result in results)
        total = results[0].value if weights[0] == 1.0 else results[0].value * weights[0]
        for result, weight in zip(results[1:], weights[1:], strict=True):
            total = total + result.value if weight == 1.0 else torch.add(total, result.value, alpha=weight)
        ctx.grad_source = ctx.grad_image = None
        if needs_text:
            # The weights are known here, so the weighted gradients are summed now, while each term's is at
            # hand, and the backward only scales the sum.
            grouped = centred = None
            for result, weight in zip(results, weights, strict=True):
                grouped = _weighed(grouped, result.grouped, weight)
                centred = _weighed(centred, result.centred, weight)
            for result, weight in zip(results, weights, strict=True):
                if result.centred_rows is not None:
                    centred = torch.zeros_like(grid.centred) if centred is None else centred
                    slots, rows = result.centred_rows
                    flat = centred.view(-1, centred.shape[-1])
                    if weight == 1.0:
                        flat.index_add_(0, slots, rows)
                    else:
                        flat.index_add_(0, slots, rows, alpha=weight)
            if grouped is not None or centred is not None:
                ctx.grad_source = grid.class_gradient(grouped, centred).to(source.dtype)
        if needs_image:
            image_grad = None
            for result, weight in zip(results, weights, strict=True):
                image_grad = _weighed(image_grad, result.image, weight)
            ctx.grad_image = None if image_grad is None else image_grad.to(image.dtype)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        grad_source = None if ctx.grad_source is None else ctx.grad_source * grad
        grad_image = None if ctx.grad_image is None else ctx.grad_image * grad
        return grad_source, grad_image, None, None, None, None
