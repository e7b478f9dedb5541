"""The downstream datasets of the hierarchical world: 256 colour x shape classes under one style shift each.

Label order (not alphabetical): a class's parity is (shade index within its colour family + shape
index within its shape family) mod 2, and labels run through parity 0 first. The field's base-to-new
rule (`cpt_lightning.data.sampling.base_new_split`: the first `ceil(K / 2)` labels are base) then
makes every shade and every shape appear among both base and new classes, and gives every pair of
families 8 base and 8 new classes: new classes are unseen combinations that fall in the same
semantic clusters as base classes.

Class names carry the colour family before the shade ("bluish navy pentagon"), as real class names
often carry their hierarchy ("Boeing 737-200"). The CLIP's captions name a shade or its family, not
both, so its text encoder knows both words; prompted with the shade alone, its prototypes cluster by
lightness and shape family rather than by colour family (`docs/world2.md`, "Class names").
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cpt_lightning.world.attributes import STYLES
from cpt_lightning.world.datasets import SPLITS, split_labels
from cpt_lightning.world.hier.attributes import (
    COLOUR_FAMILIES,
    COLOURS,
    FAMILY_SIZE,
    SHAPES,
    HierObjects,
    colour_family_of,
    shape_family_of,
)
from cpt_lightning.world.hier.captions import describe_hier
from cpt_lightning.world.hier.render import render_hier


@dataclass(frozen=True)
class HierDatasetSpec:
    """One dataset of the hierarchical world: its style and how strong the shift is."""

    name: str
    style: str
    severity_range: tuple[float, float]
    description: str


# Severities were set on a pretrained model (pretraining never depends on them): strong enough that
# zero-shot leaves room for a learned prompt, mild enough that it stays far above chance.
HIER_DATASET_SPECS: dict[str, HierDatasetSpec] = {
    spec.name: spec
    for spec in (
        HierDatasetSpec("sketches", "sketch", (0.6, 0.7), "outline drawings on paper, fill faded"),
        HierDatasetSpec("night", "dark", (0.55, 0.65), "low light, low contrast and sensor noise"),
        HierDatasetSpec("clutter", "clutter", (0.5, 0.7), "small distractor shapes around the object"),
        HierDatasetSpec("blur", "blur", (0.6, 0.7), "defocus blur"),
    )
}


def hier_dataset_names() -> list[str]:
    """Names of every dataset of the hierarchical world, in a fixed order."""
    return list(HIER_DATASET_SPECS)


def class_name(colour: int, shape: int) -> str:
    """The name of the class of shade `colour` and shape `shape`: "<colour family> <shade> <shape>"."""
    family = tuple(COLOUR_FAMILIES)[int(colour_family_of(colour))]
    return describe_hier(f"{family} {COLOURS[colour]}", SHAPES[shape])


def class_parity(colour: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """0 or 1 per class: (shade index in its family + shape index in its family) mod 2."""
    return (np.asarray(colour) % FAMILY_SIZE + np.asarray(shape) % FAMILY_SIZE) % 2


class HierWorldDataset:
    """One downstream dataset of the hierarchical world: class names in label order and a seeded renderer.

    `.classnames[k]` names label k ("bluish navy pentagon": `class_name`); `.class_codes` is int64 [K, 4] of
    (colour family, colour, shape family, shape) codes per label; `render_split` draws fresh images.
    """

    def __init__(self, name: str) -> None:
        if name not in HIER_DATASET_SPECS:
            raise ValueError(f"Unknown hierarchical-world dataset {name!r}; expected one of {hier_dataset_names()}.")
        self.spec = HIER_DATASET_SPECS[name]
        colour, shape = (
            grid.ravel() for grid in np.meshgrid(np.arange(len(COLOURS)), np.arange(len(SHAPES)), indexing="ij")
        )
        order = np.lexsort((shape, colour, class_parity(colour, shape)))  # parity first, then colour, shape
        colour, shape = colour[order], shape[order]
        self.class_codes = np.stack([colour_family_of(colour), colour, shape_family_of(shape), shape], axis=1).astype(
            np.int64
        )
        self.classnames: list[str] = [class_name(c, s) for c, s in zip(colour.tolist(), shape.tolist(), strict=True)]

    @property
    def name(self) -> str:
        return self.spec.name

    def objects_for(self, labels: np.ndarray, rng: np.random.Generator) -> HierObjects:
        """Codes for pictures of `labels` in this dataset's style (severity drawn from its range)."""
        n = len(labels)
        style = np.full(n, STYLES.index(self.spec.style))
        severity = rng.uniform(*self.spec.severity_range, size=n).astype(np.float32)
        return HierObjects(
            colour=self.class_codes[labels, 1], shape=self.class_codes[labels, 3], style=style, severity=severity
        )

    def render_split(self, split: str, counts: int | Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Fresh images: uint8 [N, 32, 32, 3] and int64 labels [N], grouped by class.

        `counts` is images per class (one int, or one per class). The same `(split, counts, seed)`
        always gives the same images; other seeds or splits give others. The stream is independent
        of the demo world's and of pretraining's.
        """
        labels = split_labels(split, counts, len(self.classnames), self.name)
        rng = np.random.default_rng((seed, zlib.crc32(f"world2/{self.name}".encode()), SPLITS.index(split)))
        return render_hier(self.objects_for(labels, rng), rng), labels
