"""Shape masks of the demo world, computed for many objects at once on a pixel grid."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cpt_lightning.world.attributes import SHAPES


def regular_polygon(u: np.ndarray, v: np.ndarray, sides: int, apothem: float, phase: float) -> np.ndarray:
    """Inside test of a regular polygon: the point is behind every edge's half-plane."""
    inside = np.ones(u.shape, dtype=bool)
    for k in range(sides):
        angle = phase + 2 * np.pi * k / sides
        inside &= u * np.cos(angle) + v * np.sin(angle) <= apothem
    return inside


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # A five-pointed star in polar form: the radius oscillates between 0.45 and 1 with the angle.
    radius = np.hypot(u, v)
    angle = np.arctan2(u, -v)
    return radius <= 0.45 + 0.55 * np.abs(np.cos(2.5 * angle)) ** 3


def _crescent(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u**2 + v**2 <= 1.0) & ((u - 0.45) ** 2 + (v + 0.15) ** 2 > 0.72)


_MASKS = {
    "circle": lambda u, v: u**2 + v**2 <= 1.0,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.82,
    "triangle": lambda u, v: regular_polygon(u, v + 0.15, 3, 0.55, np.pi / 2),
    "diamond": lambda u, v: np.abs(u) * 0.8 + np.abs(v) <= 1.0,
    "star": _star,
    "cross": lambda u, v: ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95)),
    "hexagon": lambda u, v: regular_polygon(u, v, 6, 0.88, 0.0),
    "crescent": _crescent,
}


def shape_masks(u: np.ndarray, v: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Boolean masks [N, H, W] of the objects whose local coordinates are `u`, `v` [N, H, W].

    `u`, `v` are pixel coordinates relative to each object's centre, rotated into the object's
    frame and divided by its radius, so every shape fits the unit disc; `shape[n]` indexes `SHAPES`.
    """
    return masks_by_code(u, v, shape, SHAPES, _MASKS)


def masks_by_code(
    u: np.ndarray, v: np.ndarray, shape: np.ndarray, names: tuple[str, ...], masks: dict[str, Callable]
) -> np.ndarray:
    """Boolean masks [N, H, W]: object n drawn with `masks[names[shape[n]]]` on its coordinates `u`, `v`."""
    out = np.zeros(u.shape, dtype=bool)
    for code, name in enumerate(names):
        index = np.flatnonzero(shape == code)
        if index.size:
            out[index] = masks[name](u[index], v[index])
    return out
