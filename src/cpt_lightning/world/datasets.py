"""The downstream datasets of the demo world: each a fixed class list under one deliberate style shift.

A class is a combination of attribute values ("red circle" = colour x shape); the attributes a class
does not fix (size, pattern, ...) vary freely, as nuisances. Classes sharing a value form the
natural semantic clusters. Class lists are sorted by name, so the field's base-to-new rule (first
`ceil(K / 2)` sorted classes are base) splits them by their first attribute.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cpt_lightning.world.attributes import ATTRIBUTE_VALUES, ObjectBatch
from cpt_lightning.world.captions import describe
from cpt_lightning.world.render import render

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class WorldDatasetSpec:
    """What makes one world dataset: its style, how strong the shift is, and which attributes name a class."""

    name: str
    style: str
    severity_range: tuple[float, float]
    class_attributes: tuple[str, ...]
    description: str


# Severities were calibrated on the first shipped model (pretraining never depends on them): strong enough
# that zero-shot leaves room for a learned prompt, mild enough that it stays far above chance.
WORLD_DATASET_SPECS: dict[str, WorldDatasetSpec] = {
    spec.name: spec
    for spec in (
        WorldDatasetSpec(
            "sketches", "sketch", (0.7, 0.8), ("colour", "shape"), "outline drawings on white paper, no fill"
        ),
        WorldDatasetSpec("night", "dark", (0.7, 0.8), ("colour", "shape"), "low light, low contrast and sensor noise"),
        WorldDatasetSpec("sepia", "sepia", (0.9, 1.0), ("colour", "shape"), "an old-photo colour cast"),
        WorldDatasetSpec(
            "clutter",
            "clutter",
            (0.5, 0.7),
            ("colour", "shape"),
            "many small distractor shapes around the object",
        ),
        WorldDatasetSpec("blur", "blur", (0.75, 0.85), ("colour", "shape"), "defocus blur"),
    )
}


def world_dataset_names() -> list[str]:
    """Names of every world dataset, in a fixed order."""
    return list(WORLD_DATASET_SPECS)


class WorldDataset:
    """One downstream world dataset: its sorted class names and a seeded renderer of labelled images.

    `WorldDataset("sketches").classnames[k]` names label k; `render_split` draws fresh images
    of any class counts, deterministically from `(seed, dataset, split)`.
    """

    def __init__(self, name: str) -> None:
        if name not in WORLD_DATASET_SPECS:
            raise ValueError(f"Unknown world dataset {name!r}; expected one of {world_dataset_names()}.")
        self.spec = WORLD_DATASET_SPECS[name]
        value_lists = [range(len(ATTRIBUTE_VALUES[a])) for a in self.spec.class_attributes]
        combos = list(itertools.product(*value_lists))
        names = [self._classname(combo) for combo in combos]
        order = sorted(range(len(combos)), key=names.__getitem__)
        self.classnames: list[str] = [names[i] for i in order]
        # [K, len(class_attributes)] codes of each class, in `classnames` order.
        self.class_codes = np.array([combos[i] for i in order], dtype=np.int64)

    @property
    def name(self) -> str:
        return self.spec.name

    def _classname(self, combo: tuple[int, ...]) -> str:
        words = {a: ATTRIBUTE_VALUES[a][c] for a, c in zip(self.spec.class_attributes, combo, strict=True)}
        return describe(words.get("size"), words.get("pattern"), words.get("colour"), words.get("shape"))

    def objects_for(self, labels: np.ndarray, rng: np.random.Generator) -> ObjectBatch:
        """Attribute codes for pictures of `labels`: class attributes fixed, the others uniform nuisances."""
        n = len(labels)
        fields = {}
        for attribute in ("size", "pattern", "colour", "shape"):
            if attribute in self.spec.class_attributes:
                fields[attribute] = self.class_codes[labels, self.spec.class_attributes.index(attribute)]
            else:
                fields[attribute] = rng.integers(len(ATTRIBUTE_VALUES[attribute]), size=n)
        style = np.full(n, ATTRIBUTE_VALUES["style"].index(self.spec.style))
        severity = rng.uniform(*self.spec.severity_range, size=n).astype(np.float32)
        return ObjectBatch(style=style, severity=severity, **fields)

    def render_split(self, split: str, counts: int | Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Fresh images of this dataset: uint8 [N, 32, 32, 3] and int64 labels [N], grouped by class.

        `counts` is images per class (one int for all, or one per class). The same
        `(split, counts, seed)` always gives the same images; other seeds or splits give others.
        """
        labels = split_labels(split, counts, len(self.classnames), self.name)
        rng = np.random.default_rng((seed, zlib.crc32(self.name.encode()), SPLITS.index(split)))
        return render(self.objects_for(labels, rng), rng), labels


def render_split(name: str, split: str, counts: int | Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shortcut for `WorldDataset(name).render_split(split, counts, seed)`."""
    return WorldDataset(name).render_split(split, counts, seed)


def split_labels(split: str, counts: int | Sequence[int], n_classes: int, name: str) -> np.ndarray:
    """int64 labels [N] grouped by class: `counts` images per class (one int, or one per class).

    Raises `ValueError` for a `split` not in `SPLITS` or `counts` that are not one non-negative int
    or `n_classes` of them (`name` is the dataset, for the message).
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
    per_class = np.asarray(counts, dtype=np.int64)
    if per_class.ndim == 0:
        per_class = np.full(n_classes, int(per_class))
    if per_class.shape != (n_classes,) or (per_class < 0).any():
        raise ValueError(
            f"`counts` must be one non-negative int or one per class ({n_classes} for "
            f"{name!r}); got {list(per_class.ravel())[:8]}... of shape {per_class.shape}."
        )
    return np.repeat(np.arange(n_classes), per_class)
