"""Per-class and per-group accuracy: exact counts that sum across DDP ranks, with functional cores."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from cpt_lightning.metrics.keys import GROUP_ORDER


def _predicted_labels(preds: torch.Tensor) -> torch.Tensor:
    """Labels from `[B, K]` scores (argmax) or `[B]` labels."""
    return preds.argmax(dim=-1) if preds.ndim == 2 else preds


def per_class_counts(preds: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(correct, total)` per class, long tensors `[K]`; `preds` are `[B, K]` scores or `[B]` labels."""
    target = target.long()
    # bincount without weights: exact integers, and deterministic on CUDA (weighted bincount is not).
    total = torch.bincount(target, minlength=num_classes)
    hits = torch.bincount(target[_predicted_labels(preds) == target], minlength=num_classes)
    return hits, total


def accuracy_from_counts(correct: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Per-class accuracy `correct / total`; NaN marks a class with no samples (missing, not 0)."""
    return torch.where(total > 0, correct.double() / total.clamp(min=1).double(), torch.nan).float()


def per_class_accuracy(preds: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Accuracy of each class `[K]`: NaN for a class that has no samples."""
    return accuracy_from_counts(*per_class_counts(preds, target, num_classes))


def group_names(class_groups: Sequence[str]) -> list[str]:
    """The distinct groups, head / medium / tail first (in that order), others in order of appearance."""
    present = list(dict.fromkeys(class_groups))
    return [g for g in GROUP_ORDER if g in present] + [g for g in present if g not in GROUP_ORDER]


def group_accuracy_from_counts(
    correct: torch.Tensor, total: torch.Tensor, class_groups: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Macro accuracy per group: the mean of the accuracies of the group's classes that have samples.

    A class without samples is left out of its group's mean; a group none of whose classes has
    samples is missing from the result (neither 0 nor NaN), so no caller can average it in.
    """
    if len(class_groups) != correct.numel():
        raise ValueError(f"class_groups has {len(class_groups)} entries for {correct.numel()} classes.")
    accuracies = accuracy_from_counts(correct, total)
    result = {}
    for group in group_names(class_groups):
        members = torch.tensor([g == group for g in class_groups], device=total.device) & (total > 0)
        if members.any():
            result[group] = accuracies[members].mean()
    return result


def group_accuracy(preds: torch.Tensor, target: torch.Tensor, class_groups: Sequence[str]) -> dict[str, torch.Tensor]:
    """`{group: macro accuracy}` over the groups that have samples (see `group_accuracy_from_counts`)."""
    return group_accuracy_from_counts(*per_class_counts(preds, target, len(class_groups)), class_groups)


def harmonic_mean(base: float | torch.Tensor, new: float | torch.Tensor) -> float | torch.Tensor:
    """Base-to-new harmonic mean `HM = 2 B N / (B + N)`; 0 when both accuracies are 0 (its limit)."""
    total = base + new
    if isinstance(total, torch.Tensor):
        return torch.where(total > 0, 2 * base * new / total.clamp(min=torch.finfo(total.dtype).tiny), 0.0)
    return 2 * base * new / total if total > 0 else 0.0


class PerClassAccuracy(Metric):
    """Accuracy of each class, `[K]` (NaN for a class without samples).

    States are integer `correct` / `total` counts per class with sum reduction, so under DDP every
    sample counts exactly once (given an unpadded eval sampler) and the result equals a single
    process's bit for bit.

    Example:
        >>> metric = PerClassAccuracy(num_classes=3)
        >>> metric.update(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0]))
        >>> metric.compute()
        tensor([0.6667, 1.0000,    nan])
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.add_state("correct", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        correct, total = per_class_counts(preds, target, self.num_classes)
        self.correct += correct
        self.total += total

    def compute(self) -> torch.Tensor:
        return accuracy_from_counts(self.correct, self.total)


class PerClassSampleCount(PerClassAccuracy):
    """The number of samples of each class, `[K]` long, summed over DDP ranks (each sample once)."""

    def compute(self) -> torch.Tensor:
        return self.total.clone()


class GroupAccuracy(PerClassAccuracy):
    """Macro accuracy per class group (head / medium / tail, or many / medium / few), as a dict.

    Each group's value is the mean of its classes' accuracies (the long-tail literature's
    many/medium/few-shot accuracy); groups without samples are absent from the dict.

    Example:
        >>> metric = GroupAccuracy(["head", "head", "tail"])
        >>> metric.update(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1]))
        >>> {name: round(value.item(), 3) for name, value in metric.compute().items()}
        {'head': 0.75}
    """

    def __init__(self, class_groups: Sequence[str], **kwargs) -> None:
        super().__init__(num_classes=len(class_groups), **kwargs)
        self.class_groups = list(class_groups)

    def compute(self) -> dict[str, torch.Tensor]:
        return group_accuracy_from_counts(self.correct, self.total, self.class_groups)
