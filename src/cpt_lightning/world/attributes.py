"""The attribute vocabulary of the demo world: what an object can be, and how a picture can look."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross", "hexagon", "crescent")
COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")
PATTERNS = ("plain", "striped", "dotted", "checkered")
SIZES = ("small", "large")
# "photo" is the clean pretraining look; every other style is a downstream shift.
STYLES = ("photo", "sketch", "dark", "sepia", "clutter", "blur")

# Saturated base colours in RGB [0, 1], chosen to stay distinct on a light background.
COLOUR_RGB = np.array(
    [
        (0.86, 0.16, 0.16),
        (0.96, 0.55, 0.08),
        (0.92, 0.84, 0.12),
        (0.16, 0.67, 0.24),
        (0.12, 0.75, 0.82),
        (0.16, 0.27, 0.86),
        (0.55, 0.20, 0.75),
        (0.94, 0.43, 0.71),
    ],
    dtype=np.float32,
)

# Attribute name -> its vocabulary; the order is also the column order of `ObjectBatch.as_matrix`.
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "size": SIZES,
    "pattern": PATTERNS,
    "colour": COLOURS,
    "shape": SHAPES,
    "style": STYLES,
}


@dataclass(frozen=True)
class StyledObjects:
    """Integer codes of N pictures, one entry per picture: colour, shape and style (indices into a
    world's vocabularies) and `severity` in [0, 1], how strongly `style` departs from the clean photo look.
    """

    colour: np.ndarray
    shape: np.ndarray
    style: np.ndarray
    severity: np.ndarray

    def __len__(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class ObjectBatch(StyledObjects):
    """The demo world's pictures: `StyledObjects` plus a size and a pattern code each."""

    size: np.ndarray
    pattern: np.ndarray

    def as_matrix(self) -> np.ndarray:
        """Codes as int64 [N, 5] in `ATTRIBUTE_VALUES` order (size, pattern, colour, shape, style)."""
        return np.stack([getattr(self, name) for name in ATTRIBUTE_VALUES], axis=1).astype(np.int64)

    def subset(self, index: np.ndarray) -> ObjectBatch:
        """The pictures at `index`, in that order."""
        return ObjectBatch(**{name: getattr(self, name)[index] for name in (*ATTRIBUTE_VALUES, "severity")})


def sample_objects(
    n: int,
    rng: np.random.Generator,
    style_probabilities: dict[str, float] | None = None,
    severity_range: tuple[float, float] = (0.0, 0.5),
) -> ObjectBatch:
    """Draw N objects with uniform size, pattern, colour and shape, and a style from `style_probabilities`.

    Without `style_probabilities` every picture is a clean photo (severity 0); shifted styles get a
    severity drawn uniformly from `severity_range`.
    """
    style, severity = sample_styles(n, rng, style_probabilities, severity_range)
    return ObjectBatch(
        size=rng.integers(len(SIZES), size=n),
        pattern=rng.integers(len(PATTERNS), size=n),
        colour=rng.integers(len(COLOURS), size=n),
        shape=rng.integers(len(SHAPES), size=n),
        style=style,
        severity=severity,
    )


def sample_styles(
    n: int,
    rng: np.random.Generator,
    style_probabilities: dict[str, float] | None = None,
    severity_range: tuple[float, float] = (0.0, 0.5),
) -> tuple[np.ndarray, np.ndarray]:
    """Style codes [N] drawn from `style_probabilities` (default: photos) and their severities [N].

    Photos get severity 0; shifted styles one drawn uniformly from `severity_range`.
    """
    probabilities = np.zeros(len(STYLES))
    for style, p in (style_probabilities or {"photo": 1.0}).items():
        probabilities[STYLES.index(style)] = p
    probabilities /= probabilities.sum()
    style = rng.choice(len(STYLES), size=n, p=probabilities)
    severity = rng.uniform(*severity_range, size=n).astype(np.float32)
    severity[style == STYLES.index("photo")] = 0.0
    return style, severity
