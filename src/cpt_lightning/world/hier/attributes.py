"""The vocabulary of the hierarchical world: colour families over shades, shape families over shapes.

Two attributes name an object, each two levels deep: a colour (one of 16 shades in 4 hue families)
and a shape (one of 16 shapes in 4 families of similar outline). Shades of a family share a hue and
differ in lightness and saturation; shapes of a family share how their outline is built (curves,
straight edges, points, bars). Captions name either the member ("navy") or its family ("bluish"),
so the text encoder learns the hierarchy from the same pictures that a family's members share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cpt_lightning.world.attributes import StyledObjects, sample_styles

# Family word -> its members. Within a family, members run vivid, dark, light, muted.
COLOUR_FAMILIES: dict[str, tuple[str, ...]] = {
    "reddish": ("red", "maroon", "pink", "brick"),
    "yellowish": ("yellow", "olive", "cream", "khaki"),
    "greenish": ("green", "forest", "mint", "sage"),
    "bluish": ("blue", "navy", "sky", "slate"),
}
SHAPE_FAMILIES: dict[str, tuple[str, ...]] = {
    "round": ("circle", "oval", "ring", "crescent"),
    "angular": ("triangle", "square", "pentagon", "hexagon"),
    "spiky": ("star", "spark", "burst", "gear"),
    "blocky": ("cross", "saltire", "tee", "ell"),
}

COLOURS = tuple(member for members in COLOUR_FAMILIES.values() for member in members)
SHAPES = tuple(member for members in SHAPE_FAMILIES.values() for member in members)
FAMILY_SIZE = 4

# RGB in [0, 1] of each shade, in `COLOURS` order; chosen to stay apart on a mid-grey background.
COLOUR_RGB = np.array(
    [
        (0.88, 0.12, 0.12), (0.48, 0.04, 0.08), (0.98, 0.62, 0.68), (0.68, 0.36, 0.30),
        (0.95, 0.86, 0.08), (0.48, 0.45, 0.04), (0.99, 0.96, 0.70), (0.76, 0.70, 0.44),
        (0.12, 0.72, 0.18), (0.04, 0.34, 0.10), (0.64, 0.98, 0.72), (0.44, 0.60, 0.46),
        (0.14, 0.30, 0.92), (0.04, 0.07, 0.42), (0.58, 0.80, 0.99), (0.40, 0.47, 0.62),
    ],
    dtype=np.float32,
)  # fmt: skip

# Column order of `HierObjects.as_matrix` and of caption codes.
CODE_COLUMNS = ("colour_family", "colour", "shape_family", "shape", "style")


def colour_family_of(colour: np.ndarray) -> np.ndarray:
    """Family index of each colour code (families are consecutive blocks of `FAMILY_SIZE`)."""
    return np.asarray(colour) // FAMILY_SIZE


def shape_family_of(shape: np.ndarray) -> np.ndarray:
    """Family index of each shape code."""
    return np.asarray(shape) // FAMILY_SIZE


@dataclass(frozen=True)
class HierObjects(StyledObjects):
    """Integer codes of N pictures: colour and shape (indices into `COLOURS` / `SHAPES`), style, severity."""

    def as_matrix(self) -> np.ndarray:
        """int64 [N, 5] in `CODE_COLUMNS` order: colour family, colour, shape family, shape, style."""
        columns = (colour_family_of(self.colour), self.colour, shape_family_of(self.shape), self.shape, self.style)
        return np.stack(columns, axis=1).astype(np.int64)


def sample_hier_objects(
    n: int,
    rng: np.random.Generator,
    style_probabilities: dict[str, float] | None = None,
    severity_range: tuple[float, float] = (0.0, 0.5),
) -> HierObjects:
    """Draw N objects with uniform colour and shape and a style from `style_probabilities` (default: photos)."""
    style, severity = sample_styles(n, rng, style_probabilities, severity_range)
    return HierObjects(
        colour=rng.integers(len(COLOURS), size=n),
        shape=rng.integers(len(SHAPES), size=n),
        style=style,
        severity=severity,
    )
