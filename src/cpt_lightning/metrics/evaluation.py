"""What CPTModule measures on each evaluation set, and how the results are named when logged.

Per evaluation set (the data module's `eval_classnames`, e.g. "all", or "base" and "new"): overall
top-1 (`acc`, micro: correct / samples), the mean cross-entropy (`loss`), the accuracy of every
class, and -- on the set whose classes are the training classes, when the module has
`class_groups` -- the macro accuracy of each group (`acc_head`, `acc_medium`, `acc_tail`). With a
"base" and a "new" set, the harmonic mean of their top-1 (`hm`). Key names: `metrics/keys.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from cpt_lightning.metrics.class_accuracy import (
    GroupAccuracy,
    PerClassAccuracy,
    PerClassSampleCount,
    group_names,
    harmonic_mean,
)
from cpt_lightning.metrics.keys import (
    ACCURACY,
    BASE_TO_NEW_SETS,
    LOSS,
    group_accuracy_metric,
    harmonic_mean_key,
    metric_key,
)


def eval_metric_collection(num_classes: int, class_groups: list[str] | None = None) -> MetricCollection:
    """One evaluation set's metrics: `acc`, `per_class`, `samples`, `loss`, and `groups` when groups are given."""
    members = {
        ACCURACY: MulticlassAccuracy(num_classes=num_classes, average="micro"),
        "per_class": PerClassAccuracy(num_classes),
        "samples": PerClassSampleCount(num_classes),
        LOSS: MeanMetric(),
    }
    if class_groups is not None:
        members["groups"] = GroupAccuracy(class_groups)
    # Compute groups would let `per_class` and `groups` share states; members are updated and
    # computed one by one here (the loss takes other arguments), so sharing is switched off.
    return MetricCollection(members, compute_groups=False)


def groups_for_set(
    set_classnames: list[str], training_classnames: list[str], class_groups: list[str] | None
) -> list[str] | None:
    """The group of each class of an evaluation set: the training groups where the set *is* the training classes.

    Groups describe training classes (their shot counts), so they apply to "all" and to base-to-new's
    "base" set, never to "new" or to another dataset's classes.
    """
    return list(class_groups) if class_groups is not None and set_classnames == training_classnames else None


def update_eval_metrics(metrics: MetricCollection, logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Add one batch of logits `[B, K]` and labels `[B]` to a set's metrics."""
    for name, metric in metrics.items():
        if name == LOSS:
            metric.update(nn.functional.cross_entropy(logits.float(), labels), labels.shape[0])
        else:
            metric.update(logits, labels)


@dataclass
class EvalResults:
    """One evaluation epoch: the logged scalars, each set's per-class accuracy (NaN: no samples) and sample count."""

    scalars: dict[str, torch.Tensor] = field(default_factory=dict)
    per_class: dict[str, torch.Tensor] = field(default_factory=dict)
    samples: dict[str, torch.Tensor] = field(default_factory=dict)
    classnames: dict[str, list[str]] = field(default_factory=dict)


def compute_eval_results(stage: str, metrics: nn.ModuleDict, eval_sets: dict[str, list[str]]) -> EvalResults:
    """Compute (DDP-reduced) and reset every set's metrics; name the scalars as they are logged."""
    several = len(eval_sets) > 1
    results = EvalResults()
    for set_name, names in eval_sets.items():
        collection = metrics[set_name]
        values = {name: metric.compute() for name, metric in collection.items()}
        collection.reset()
        results.scalars[metric_key(stage, set_name, ACCURACY, several)] = values[ACCURACY]
        results.scalars[metric_key(stage, set_name, LOSS, several)] = values[LOSS]
        for group, accuracy in values.get("groups", {}).items():
            results.scalars[metric_key(stage, set_name, group_accuracy_metric(group), several)] = accuracy
        results.per_class[set_name] = values["per_class"]
        results.samples[set_name] = values["samples"]
        results.classnames[set_name] = list(names)
    if all(name in eval_sets for name in BASE_TO_NEW_SETS):
        base, new = (results.scalars[metric_key(stage, name, ACCURACY, several)] for name in BASE_TO_NEW_SETS)
        results.scalars[harmonic_mean_key(stage)] = harmonic_mean(base, new)
    return results


def summary_directions(stage: str, metrics: nn.ModuleDict, eval_sets: dict[str, list[str]]) -> dict[str, str]:
    """Every scalar key a stage can log, with its best-so-far direction ("max" or "min")."""
    several = len(eval_sets) > 1
    directions = {}
    for set_name in eval_sets:
        directions[metric_key(stage, set_name, ACCURACY, several)] = "max"
        directions[metric_key(stage, set_name, LOSS, several)] = "min"
        members = dict(metrics[set_name].items())
        for group in group_names(members["groups"].class_groups) if "groups" in members else []:
            directions[metric_key(stage, set_name, group_accuracy_metric(group), several)] = "max"
    if all(name in eval_sets for name in BASE_TO_NEW_SETS):
        directions[harmonic_mean_key(stage)] = "max"
    return directions
