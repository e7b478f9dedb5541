"""The sampling plan of a few-shot fit, as pure functions of the class count, shots, seed, tau and subsample.

`plan_classes` decides which classes are trained and evaluated on and how many training images
each gets; `sample_subset` draws the training and validation images from a benchmark's splits by
that plan; `subset_matches_splits` says whether a cached subset still fits the splits. Nothing
here reads files or holds state: a data module calls these with what it read, so every DDP rank
and every re-run computes the same subset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cpt_lightning.data.layout import DatasetLayoutError
from cpt_lightning.data.sampling import (
    Item,
    Subsample,
    base_new_split,
    groups_by_rank,
    holdout_counts,
    imbalance_profile,
    imbalance_ranks,
    items_by_label,
    relabel,
    sample_per_class,
)

MAX_VAL_SHOTS = 4  # CoOp: the validation subset gets min(shots, 4) images per class.
SUBSAMPLES = ("all", "base", "new", "base_to_new")


@dataclass
class RawSplits:
    """All images of a benchmark, labels in the full class list. `val=None`: no official val split."""

    train: list[Item]
    val: list[Item] | None
    test: list[Item]


@dataclass(frozen=True)
class ClassPlan:
    """Which classes a fit uses: training labels and each evaluation set's labels (in the full class
    list), the training count `n_k` per training class (None: every image), and their groups."""

    train_labels: list[int]
    eval_labels: dict[str, list[int]]
    ranks: list[int]
    counts: list[int] | None
    class_groups: list[str] | None


def check_sampling_arguments(shots: int | None, tau: float, subsample: str, seed: int = 0) -> None:
    """Raise a `ValueError` that says what to set when shots, tau, seed or subsample are out of range."""
    if shots is not None and shots < 1:
        raise ValueError(f"shots must be a positive integer or None (all images); got {shots}.")
    if not 0.0 < tau <= 1.0:
        raise ValueError(
            f"tau is the imbalance ratio n_min / n_max and must lie in (0, 1]; got {tau}. "
            "Use tau=1 for balanced data, 0.25 or 0.06 for the imbalanced protocol."
        )
    if tau < 1.0 and shots is None:
        raise ValueError(f"tau={tau} needs `shots` (the head class's count); got shots=None.")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f"seed (the data sampling seed, `data.init_args.seed`) must be a non-negative integer; got {seed!r}."
        )
    if subsample not in SUBSAMPLES:
        raise ValueError(f"subsample must be 'all', 'base', 'new' or 'base_to_new'; got {subsample!r}.")


def eval_label_sets(num_classes: int, subsample: Subsample) -> dict[str, list[int]]:
    """The evaluation sets of `subsample`: "all", CoOp's "base" or "new" half, or both halves."""
    base, new = base_new_split(num_classes)
    return {
        "all": {"all": list(range(num_classes))},
        "base": {"base": base},
        "new": {"new": new},
        "base_to_new": {"base": base, "new": new},
    }[subsample]


def plan_classes(
    num_classes: int,
    shots: int | None,
    seed: int,
    tau: float,
    subsample: Subsample,
    benchmark_groups: Sequence[str] | None = None,
    popularity_ranks: Callable[[list[int]], list[int]] | None = None,
) -> ClassPlan:
    """The class plan: `n_k = max(1, floor(shots * tau ** (r_k / (K - 1))))` per training class.

    `r_k` (0 = head) comes from `popularity_ranks(train_labels)`, by default a seeded permutation
    (`imbalance_ranks`). Groups: by rank when `tau < 1`, else the benchmark's own
    `benchmark_groups` (one per class of the full list), else None.
    """
    check_sampling_arguments(shots, tau, subsample, seed)
    eval_labels = eval_label_sets(num_classes, subsample)
    train_labels = eval_labels["new"] if subsample == "new" else next(iter(eval_labels.values()))
    ranks = popularity_ranks(train_labels) if popularity_ranks else imbalance_ranks(len(train_labels), seed)
    if tau < 1.0:
        groups = groups_by_rank(ranks)
    else:
        groups = None if benchmark_groups is None else [benchmark_groups[k] for k in train_labels]
    counts = None if shots is None else imbalance_profile(ranks, shots, tau)
    return ClassPlan(train_labels, eval_labels, ranks, counts, groups)


def _val_pool(splits: RawSplits, train_subset: list[Item] | None) -> list[Item]:
    if splits.val is not None:
        return splits.val
    # No official val split: validate on training images the training subset leaves out, so
    # that model selection never looks at the test set. With every image in training
    # (`train_subset=None`) the validation images are removed from training afterwards.
    if train_subset is None:
        return splits.train
    used = {key for key, _ in train_subset}
    return [item for item in splits.train if item[0] not in used]


def sample_subset(
    plan: ClassPlan,
    splits: RawSplits,
    shots: int | None,
    seed: int,
    classnames: Sequence[str],
    eval_classnames: dict[str, list[str]],
) -> dict[str, Any]:
    """`{"train": [[key, label]...], "val": {set: [[key, label]...]}}` drawn by `plan` from `splits`.

    Training: `plan.counts[k]` images of each training class (`sample_per_class`, seed
    `"<seed>:train"`), or all of them. Validation: `min(shots, 4)` images per class of each
    evaluation set from the official val split, or from training images the training subset
    does not use (with every image in training, at most `n_k - 1` of a class that also trains,
    `holdout_counts`); with every image in training and an official val split, all of it.
    `classnames` / `eval_classnames`: the classes' names, for the warnings about short classes.
    """
    train_pool = relabel(splits.train, plan.train_labels)
    if plan.counts is None:
        train_in_full_labels: list[Item] | None = None
        train = train_pool
    else:
        train = sample_per_class(train_pool, plan.counts, f"{seed}:train", classnames)
        back = dict(enumerate(plan.train_labels))
        train_in_full_labels = [(key, back[label]) for key, label in train]
    val_pool = _val_pool(splits, train_in_full_labels)
    val_shots = MAX_VAL_SHOTS if shots is None else min(shots, MAX_VAL_SHOTS)
    val: dict[str, list[Item]] = {}
    for name, labels in plan.eval_labels.items():
        pool = relabel(val_pool, labels)
        if shots is None and splits.val is not None:
            val[name] = pool
            continue
        val_counts = [val_shots] * len(labels)
        if plan.counts is None and splits.val is None:
            sizes = [len(bucket) for bucket in items_by_label(pool, len(labels))]
            trains = [label in plan.train_labels for label in labels]
            val_counts = holdout_counts(sizes, val_shots, trains, eval_classnames[name])
        val[name] = sample_per_class(pool, val_counts, f"{seed}:val:{name}", eval_classnames[name])
    if plan.counts is None and splits.val is None:
        held_out = {key for items in val.values() for key, _ in items}
        train = [item for item in train if item[0] not in held_out]
    return {
        "train": [list(item) for item in train],
        "val": {name: [list(item) for item in items] for name, items in val.items()},
    }


def check_training_images(train: Sequence[Sequence[Any]], classnames: Sequence[str], owner: str) -> None:
    """Fail, naming the classes, when a freshly drawn training subset leaves a training class without images."""
    have = {label for _, label in train}
    empty = [name for label, name in enumerate(classnames) if label not in have]
    if empty:
        raise DatasetLayoutError(
            f"{owner}: training classes {empty[:10]} have no training images after sampling "
            f"({len(empty)} of {len(classnames)}). Add images to them or remove them from the dataset."
        )


def subset_matches_splits(subset: dict[str, Any], splits: RawSplits, plan: ClassPlan) -> bool:
    """A cached subset is trusted only if every item exists in today's splits with its label."""
    try:
        train_source = dict(relabel(splits.train, plan.train_labels))
        if not all(train_source.get(key) == label for key, label in subset["train"]):
            return False
        val_source = splits.train if splits.val is None else splits.val
        for name, labels in plan.eval_labels.items():
            source = dict(relabel(val_source, labels))
            if not all(source.get(key) == label for key, label in subset["val"][name]):
                return False
        return set(subset["val"]) == set(plan.eval_labels)
    except (KeyError, TypeError, ValueError):
        return False
