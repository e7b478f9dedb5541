"""Render pictures of the demo world: one object (plus, in clutter, small distractors) per 32x32 image."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cpt_lightning.world.attributes import COLOUR_RGB, PATTERNS, SHAPES, STYLES, ObjectBatch
from cpt_lightning.world.shapes import shape_masks
from cpt_lightning.world.styles import WHOLE_IMAGE_STYLES

IMAGE_SIZE = 32
_SUPERSAMPLE = 2  # draw at 2x and average down, so edges are anti-aliased
_RADIUS_RANGE = {0: (5.0, 7.0), 1: (9.5, 12.5)}  # size code -> object radius in pixels
_STYLE = {name: code for code, name in enumerate(STYLES)}


def local_coordinates(centre: np.ndarray, angle: np.ndarray, grid: np.ndarray):
    """Pixel coordinates [N, H, W] in each object's rotated frame, in pixels (not yet divided by radius)."""
    dx = grid[None, :, :, 0] - centre[:, 0, None, None]
    dy = grid[None, :, :, 1] - centre[:, 1, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _pattern_masks(u_px: np.ndarray, v_px: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Where each object's secondary (dark) pattern colour shows, in object-frame pixel units."""
    marks = np.zeros(u_px.shape, dtype=bool)
    for code, name in enumerate(PATTERNS):
        index = np.flatnonzero(pattern == code)
        if not index.size or name == "plain":
            continue
        u, v = u_px[index], v_px[index]
        if name == "striped":
            marks[index] = np.floor(v / 2.0) % 2 == 1
        elif name == "dotted":
            marks[index] = (np.mod(u, 4.0) - 2.0) ** 2 + (np.mod(v, 4.0) - 2.0) ** 2 <= 1.3**2
        elif name == "checkered":
            marks[index] = (np.floor(u / 3.0) + np.floor(v / 3.0)) % 2 == 1
    return marks


def outline(mask: np.ndarray, thickness: int) -> np.ndarray:
    """The rim of each mask: pixels inside whose neighbourhood of `thickness` leaves the shape."""
    interior = mask.copy()
    for step in range(1, thickness + 1):
        for axis in (1, 2):
            interior &= np.roll(mask, step, axis=axis) & np.roll(mask, -step, axis=axis)
    return mask & ~interior


def paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray, alpha: np.ndarray | float = 1.0) -> None:
    """Blend `colour` into `canvas` [N, H, W, 3] in place where `mask` [N, H, W] holds, with opacity `alpha`.

    Only the masked pixels are computed: elsewhere the blend's weight is 0, which leaves a pixel exactly
    as it was, so skipping them changes no bit of the result and saves most of the rendering time.
    """
    where = np.nonzero(mask)
    weight = np.broadcast_to(np.asarray(alpha, dtype=np.float32).reshape(-1, 1, 1), mask.shape)[where][:, None]
    pixels = canvas[where]
    pixels *= 1.0 - weight
    pixels += weight * np.broadcast_to(colour, canvas.shape)[where]
    canvas[where] = pixels


def supersampled_grid() -> np.ndarray:
    """Pixel-centre coordinates [H, W, 2] of the supersampled canvas, in output-image pixel units."""
    hi = IMAGE_SIZE * _SUPERSAMPLE
    axis = (np.arange(hi, dtype=np.float32) + 0.5) / _SUPERSAMPLE
    return np.stack(np.meshgrid(axis, axis, indexing="xy"), axis=-1)


def place(radius: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A centre [N, 2] that keeps each object of `radius` [N] inside the image, and a small rotation [N]."""
    margin = radius[:, None] + 1.0
    centre = (margin + rng.uniform(0.0, 1.0, (len(radius), 2)) * (IMAGE_SIZE - 2 * margin)).astype(np.float32)
    return centre, rng.uniform(-0.3, 0.3, len(radius)).astype(np.float32)


def blank_canvas(
    is_sketch: np.ndarray, shade: tuple[float, float], paper: float, rng: np.random.Generator
) -> np.ndarray:
    """Supersampled float32 canvases [N, H, W, 3]: a grey of `shade` with a slight tint; `paper` for sketches."""
    n, hi = len(is_sketch), IMAGE_SIZE * _SUPERSAMPLE
    background = rng.uniform(*shade, (n, 1, 1, 1)) + rng.normal(0.0, 0.03, (n, 1, 1, 3))
    background[is_sketch] = paper
    return np.broadcast_to(background, (n, hi, hi, 3)).astype(np.float32)


def draw_distractors(
    canvas: np.ndarray,
    style: np.ndarray,
    severity: np.ndarray,
    grid: np.ndarray,
    rng: np.random.Generator,
    masks_of: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    n_shapes: int,
    colour_rgb: np.ndarray,
    brightness: tuple[float, float] | None = None,
) -> None:
    """Small objects of random shape and colour on the clutter pictures (more with `severity`), in place.

    Painted before the main object so it stays on top; `masks_of` draws the world's shapes and
    `colour_rgb` holds its colours, dimmed by a factor from `brightness` when given.
    """
    is_clutter = style == _STYLE["clutter"]
    counts = np.where(is_clutter, np.round(severity * 6.0 + rng.uniform(0, 1, len(style))), 0).astype(int)
    for round_ in range(int(counts.max(initial=0))):
        index = np.flatnonzero(counts > round_)
        n = index.size
        radius = rng.uniform(2.5, 4.5, n).astype(np.float32)
        centre = rng.uniform(3.0, IMAGE_SIZE - 3.0, (n, 2)).astype(np.float32)
        u, v = local_coordinates(centre, rng.uniform(-np.pi, np.pi, n), grid)
        masks = masks_of(u / radius[:, None, None], v / radius[:, None, None], rng.integers(n_shapes, size=n))
        colours = colour_rgb[rng.integers(len(colour_rgb), size=n)]
        if brightness is not None:
            colours = colours * rng.uniform(*brightness, (n, 1))
        sub = canvas[index]
        paint(sub, masks, colours[:, None, None, :])
        canvas[index] = sub


def finish(
    canvas: np.ndarray, style: np.ndarray, severity: np.ndarray, rng: np.random.Generator, tint: float
) -> np.ndarray:
    """Average the supersampled `canvas` down, apply each whole-image style, then a global colour tint of
    spread `tint` and pixel noise; returns uint8 images [N, 32, 32, 3]."""
    n = len(canvas)
    images = canvas.reshape(n, IMAGE_SIZE, _SUPERSAMPLE, IMAGE_SIZE, _SUPERSAMPLE, 3).mean(axis=(2, 4))
    for name, style_fn in WHOLE_IMAGE_STYLES.items():
        index = np.flatnonzero(style == _STYLE[name])
        if index.size:
            images[index] = style_fn(images[index], severity[index], rng)
    images = images * rng.normal(1.0, tint, (n, 1, 1, 3)) + rng.normal(0.0, 0.02, images.shape)
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def render(objects: ObjectBatch, rng: np.random.Generator) -> np.ndarray:
    """Draw every object of `objects` in its style; returns uint8 images [N, 32, 32, 3].

    Nuisances are drawn from `rng`: position, radius within the size class, a small rotation,
    colour brightness, background shade and tint, a global colour tint, and pixel noise.
    """
    grid = supersampled_grid()
    radius = np.empty(len(objects), dtype=np.float32)
    for code, (low, high) in _RADIUS_RANGE.items():
        index = objects.size == code
        radius[index] = rng.uniform(low, high, index.sum())
    centre, angle = place(radius, rng)

    is_sketch = objects.style == _STYLE["sketch"]
    canvas = blank_canvas(is_sketch, (0.72, 0.95), 0.97, rng)  # sketches are drawn on white paper
    draw_distractors(
        canvas, objects.style, objects.severity, grid, rng, shape_masks, len(SHAPES), COLOUR_RGB, (0.6, 1.0)
    )

    u_px, v_px = local_coordinates(centre, angle, grid)
    mask = shape_masks(u_px / radius[:, None, None], v_px / radius[:, None, None], objects.shape)
    fill = COLOUR_RGB[objects.colour] * rng.uniform(0.85, 1.05, (len(objects), 1)).astype(np.float32)
    fill_alpha = np.where(is_sketch, 1.0 - objects.severity, 1.0)
    paint(canvas, mask, fill[:, None, None, :], fill_alpha)
    marks = mask & _pattern_masks(u_px, v_px, objects.pattern)
    paint(canvas, marks, 0.3 * fill[:, None, None, :], fill_alpha)
    rim = outline(mask, thickness=3) & is_sketch[:, None, None]
    paint(canvas, rim, 0.8 * fill[:, None, None, :])
    return finish(canvas, objects.style, objects.severity, rng, tint=0.04)
