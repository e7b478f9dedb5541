"""Render pictures of the hierarchical world: one object (plus, in clutter, distractors) per 32x32 image.

The same styles as the demo world (`cpt_lightning.world.styles`), on a mid-grey background so that
dark shades (navy, maroon) and light ones (cream, mint) both stand out.
"""

from __future__ import annotations

import numpy as np

from cpt_lightning.world.attributes import STYLES
from cpt_lightning.world.hier.attributes import COLOUR_RGB, SHAPES, HierObjects
from cpt_lightning.world.hier.shapes import shape_masks
from cpt_lightning.world.render import (
    blank_canvas,
    draw_distractors,
    finish,
    local_coordinates,
    outline,
    paint,
    place,
    supersampled_grid,
)

_RADIUS = (8.0, 12.5)  # object radius in pixels: large enough that a pentagon is not a hexagon
_BACKGROUND = (0.4, 0.7)
_PAPER = 0.93  # sketches are drawn on near-white paper
_STYLE = {name: code for code, name in enumerate(STYLES)}


def render_hier(objects: HierObjects, rng: np.random.Generator) -> np.ndarray:
    """Draw every object of `objects` in its style; returns uint8 images [N, 32, 32, 3].

    Nuisances are drawn from `rng`: position, radius, a small rotation, colour brightness,
    background shade and tint, a global colour tint, and pixel noise.
    """
    grid = supersampled_grid()
    radius = rng.uniform(*_RADIUS, len(objects)).astype(np.float32)
    centre, angle = place(radius, rng)

    is_sketch = objects.style == _STYLE["sketch"]
    canvas = blank_canvas(is_sketch, _BACKGROUND, _PAPER, rng)
    draw_distractors(canvas, objects.style, objects.severity, grid, rng, shape_masks, len(SHAPES), COLOUR_RGB)

    u_px, v_px = local_coordinates(centre, angle, grid)
    mask = shape_masks(u_px / radius[:, None, None], v_px / radius[:, None, None], objects.shape)
    # Brightness jitter stays small: shades of a family differ in lightness, and must stay apart.
    fill = np.clip(COLOUR_RGB[objects.colour] * rng.uniform(0.93, 1.04, (len(objects), 1)), 0.0, 1.0).astype(np.float32)
    fill_alpha = np.where(is_sketch, 1.0 - objects.severity, 1.0)
    paint(canvas, mask, fill[:, None, None, :], fill_alpha)
    rim = outline(mask, thickness=3) & is_sketch[:, None, None]
    paint(canvas, rim, 0.85 * fill[:, None, None, :])
    return finish(canvas, objects.style, objects.severity, rng, tint=0.03)
