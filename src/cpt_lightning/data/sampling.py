"""Pure sampling rules: base/new class split, few-shot subsets, the imbalance profile, class groups.

Every function here is deterministic given its arguments and draws only from RNGs it creates
itself from `seed` (never the global `random` / `numpy.random` state), so every DDP rank and
every re-run computes the same subset.
"""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

Subsample = Literal["all", "base", "new", "base_to_new"]
Item = tuple[Hashable, int]  # (image key: a path or a row index, label)

GROUP_NAMES = ("head", "medium", "tail")


def base_new_split(num_classes: int) -> tuple[list[int], list[int]]:
    """CoOp's base/new rule: the first `ceil(K / 2)` sorted labels are base, the rest new.

    Bit-compatible with CoOp's `subsample_classes`: labels are `0..K-1` sorted, so base is
    `range(ceil(K/2))` and new the remainder. Each group is relabelled `0..m-1` by its position.
    """
    if num_classes < 1:
        raise ValueError(f"base_new_split needs at least one class, got {num_classes}.")
    m = math.ceil(num_classes / 2)
    return list(range(m)), list(range(m, num_classes))


def relabel(items: Sequence[Item], selected: Sequence[int]) -> list[Item]:
    """Keep the items whose label is in `selected` and relabel them to the position in `selected`."""
    new_label = {old: new for new, old in enumerate(selected)}
    return [(key, new_label[label]) for key, label in items if label in new_label]


def imbalance_ranks(num_classes: int, seed: int) -> list[int]:
    """Each class's rank `r_k` in a permutation drawn from `numpy.random.default_rng(seed)`.

    `order = rng.permutation(K)` lists classes from rank 0 (the head) to rank K-1 (the tail);
    the returned list is its inverse, `ranks[k] = r_k`.
    """
    order = np.random.default_rng(seed).permutation(num_classes)
    ranks = [0] * num_classes
    for rank, label in enumerate(order.tolist()):
        ranks[label] = rank
    return ranks


def imbalance_profile(ranks: Sequence[int], shots: int, tau: float) -> list[int]:
    """Per-class counts `n_k = max(1, floor(shots * tau ** (r_k / (K - 1))))`.

    `tau = n_min / n_max` must lie in (0, 1]; `tau = 1` gives `shots` for every class. With a
    single class the exponent is taken as 0 (that class is the head).
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(
            f"tau is the imbalance ratio n_min / n_max and must lie in (0, 1]; got {tau}. "
            "Use tau=1 for balanced few-shot data, e.g. 0.25 or 0.06 for the imbalanced protocol."
        )
    if shots < 1:
        raise ValueError(f"shots must be >= 1 for an imbalance profile, got {shots}.")
    num_classes = len(ranks)
    denominator = max(num_classes - 1, 1)
    return [max(1, math.floor(shots * tau ** (rank / denominator))) for rank in ranks]


def groups_by_rank(ranks: Sequence[int]) -> list[str]:
    """Head / medium / tail = the first / middle / last third of classes by rank.

    Ranks sort classes by `n_k` descending with ties broken by the permutation rank itself
    (`n_k` is non-increasing in `r_k`), so classes with equal `n_k` can fall into neighbouring
    groups. Thirds follow `numpy.array_split`: when K is not divisible by 3 the first groups get
    one class more (K=50 -> 17 / 17 / 16).
    """
    num_classes = len(ranks)
    sizes = [len(part) for part in np.array_split(np.arange(num_classes), 3)]
    group_of_rank = [name for name, size in zip(GROUP_NAMES, sizes, strict=True) for _ in range(size)]
    return [group_of_rank[rank] for rank in ranks]


def groups_by_count(counts: Sequence[int], many: int = 100, few: int = 20) -> list[str]:
    """The long-tail benchmarks' split: head (many) `> many`, tail (few) `< few`, medium otherwise."""
    return ["head" if n > many else "tail" if n < few else "medium" for n in counts]


def items_by_label(items: Sequence[Item], num_classes: int) -> list[list[Item]]:
    """Bucket items per label, each bucket sorted by key so that file-system order cannot matter."""
    buckets: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        buckets[item[1]].append(item)
    return [sorted(buckets.get(label, []), key=lambda item: str(item[0])) for label in range(num_classes)]


def holdout_counts(
    sizes: Sequence[int], val_shots: int, trains: Sequence[bool], classnames: Sequence[str]
) -> list[int]:
    """Validation images to take out of each class's training images: `val_shots`, but at most `n_k - 1`
    for a class that also trains (`trains[k]`), so that every training class keeps a training image.
    Classes that validate on fewer images for that reason are named in a warning."""
    counts = [min(val_shots, size - 1) if train else val_shots for size, train in zip(sizes, trains, strict=True)]
    reduced = [
        f"{name} ({size} images: {count} to validation)"
        for name, size, count, train in zip(classnames, sizes, counts, trains, strict=True)
        if train and count < min(val_shots, size)
    ]
    if reduced:
        log.warning(
            "%d classes have too few images to give %d to validation and keep one for training; they validate "
            "on fewer: %s%s. Add images or pass a `val_dir` for a full validation set.",
            len(reduced),
            val_shots,
            ", ".join(reduced[:10]),
            " ..." if len(reduced) > 10 else "",
        )
    return counts


def sample_per_class(
    items: Sequence[Item],
    counts: Sequence[int],
    seed: int | str,
    classnames: Sequence[str] | None = None,
) -> list[Item]:
    """Draw `counts[k]` items of each class k without replacement, from `random.Random(seed)`.

    For each class (in label order) the RNG draws `min(max(counts), available)` items and the
    first `counts[k]` of that draw are kept, so the RNG stream does not depend on the profile:
    an imbalanced subset is nested inside the balanced subset of the same seed. A class with
    fewer images than requested keeps all of them and a warning names it (CoOp's fallback).
    """
    rng = random.Random(seed)
    draw_size = max(counts, default=0)
    chosen: list[Item] = []
    short: list[str] = []
    for label, bucket in enumerate(items_by_label(items, len(counts))):
        draw = rng.sample(bucket, min(draw_size, len(bucket)))
        if len(bucket) < counts[label]:
            short.append(f"{classnames[label] if classnames is not None else label} ({len(bucket)})")
        chosen.extend(draw[: counts[label]])
    if short:
        log.warning(
            "%d classes have fewer images than requested (up to %d); all of their images are used: %s%s",
            len(short),
            draw_size,
            ", ".join(short[:10]),
            " ..." if len(short) > 10 else "",
        )
    return chosen
