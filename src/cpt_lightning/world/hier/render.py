"""Render pictures of the hierarchical world: one object (plus, in clutter, distractors) per 32x32 image.

The same styles as the demo world (`cpt_lightning.world.styles`), on a mid-grey background so that
dark shades (navy, maroon) and light ones (cream, mint) both stand out.
"""

from __future__ import annotations

import numpy as np

from cpt_lightning.world.attributes import STYLES
from cpt_lightning.world.hier.attributes import COLOUR_RGB, COLOURS, SHAPES, HierObjects
from cpt_lightning.world.hier.shapes import shape_masks
from cpt_lightning.world.render import IMAGE_SIZE, local_coordinates, outline, paint
from cpt_lightning.world.styles import WHOLE_IMAGE_STYLES

_SUPERSAMPLE = 2  # draw at 2x and average down, so edges are anti-aliased
_RADIUS = (8.0, 12.5)  # object radius in pixels: large enough that a pentagon is not a hexagon
_BACKGROUND = (0.4, 0.7)
_PAPER = 0.93  # sketches are drawn on near-white paper
_STYLE = {name: code for code, name in enumerate(STYLES)}


def _draw_distractors(canvas: np.ndarray, counts: np.ndarray, grid: np.ndarray, rng: np.random.Generator) -> None:
    """Small objects of random shape and colour, painted before the main object so it stays on top."""
    for round_ in range(int(counts.max(initial=0))):
        index = np.flatnonzero(counts > round_)
        n = index.size
        radius = rng.uniform(2.5, 4.5, n).astype(np.float32)
        centre = rng.uniform(3.0, IMAGE_SIZE - 3.0, (n, 2)).astype(np.float32)
        u, v = local_coordinates(centre, rng.uniform(-np.pi, np.pi, n), grid)
        masks = shape_masks(u / radius[:, None, None], v / radius[:, None, None], rng.integers(len(SHAPES), size=n))
        colours = COLOUR_RGB[rng.integers(len(COLOURS), size=n)]
        sub = canvas[index]
        paint(sub, masks, colours[:, None, None, :])
        canvas[index] = sub


def render_hier(objects: HierObjects, rng: np.random.Generator) -> np.ndarray:
    """Draw every object of `objects` in its style; returns uint8 images [N, 32, 32, 3].

    Nuisances are drawn from `rng`: position, radius, a small rotation, colour brightness,
    background shade and tint, a global colour tint, and pixel noise.
    """
    n = len(objects)
    hi = IMAGE_SIZE * _SUPERSAMPLE
    axis = (np.arange(hi, dtype=np.float32) + 0.5) / _SUPERSAMPLE
    grid = np.stack(np.meshgrid(axis, axis, indexing="xy"), axis=-1)

    radius = rng.uniform(*_RADIUS, n).astype(np.float32)
    margin = radius[:, None] + 1.0
    centre = (margin + rng.uniform(0.0, 1.0, (n, 2)) * (IMAGE_SIZE - 2 * margin)).astype(np.float32)
    angle = rng.uniform(-0.3, 0.3, n).astype(np.float32)

    is_sketch = objects.style == _STYLE["sketch"]
    background = rng.uniform(*_BACKGROUND, (n, 1, 1, 1)) + rng.normal(0.0, 0.03, (n, 1, 1, 3))
    background[is_sketch] = _PAPER
    canvas = np.broadcast_to(background, (n, hi, hi, 3)).astype(np.float32)

    is_clutter = objects.style == _STYLE["clutter"]
    distractor_counts = np.where(is_clutter, np.round(objects.severity * 6.0 + rng.uniform(0, 1, n)), 0)
    _draw_distractors(canvas, distractor_counts.astype(int), grid, rng)

    u_px, v_px = local_coordinates(centre, angle, grid)
    mask = shape_masks(u_px / radius[:, None, None], v_px / radius[:, None, None], objects.shape)
    # Brightness jitter stays small: shades of a family differ in lightness, and must stay apart.
    fill = np.clip(COLOUR_RGB[objects.colour] * rng.uniform(0.93, 1.04, (n, 1)), 0.0, 1.0).astype(np.float32)
    fill_alpha = np.where(is_sketch, 1.0 - objects.severity, 1.0)
    paint(canvas, mask, fill[:, None, None, :], fill_alpha)
    rim = outline(mask, thickness=3) & is_sketch[:, None, None]
    paint(canvas, rim, 0.85 * fill[:, None, None, :])

    images = canvas.reshape(n, IMAGE_SIZE, _SUPERSAMPLE, IMAGE_SIZE, _SUPERSAMPLE, 3).mean(axis=(2, 4))
    for name, style_fn in WHOLE_IMAGE_STYLES.items():
        index = np.flatnonzero(objects.style == _STYLE[name])
        if index.size:
            images[index] = style_fn(images[index], objects.severity[index], rng)
    images = images * rng.normal(1.0, 0.03, (n, 1, 1, 3)) + rng.normal(0.0, 0.02, images.shape)
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
