"""The 16 shape masks of the hierarchical world, computed for many objects at once on a pixel grid."""

from __future__ import annotations

import numpy as np

from cpt_lightning.world.hier.attributes import SHAPES
from cpt_lightning.world.shapes import masks_by_code, regular_polygon


def _points(u: np.ndarray, v: np.ndarray, count: int, inner: float, sharpness: float) -> np.ndarray:
    """A star with `count` points in polar form: the radius runs from `inner` (between points) to 1."""
    angle = np.arctan2(u, -v)
    return np.hypot(u, v) <= inner + (1 - inner) * np.abs(np.cos(count * angle / 2)) ** sharpness


def _bars(u: np.ndarray, v: np.ndarray, bars: tuple[tuple[float, float, float, float], ...]) -> np.ndarray:
    """Union of axis-aligned bars, each (u_low, u_high, v_low, v_high) in the unit disc's frame."""
    inside = np.zeros(u.shape, dtype=bool)
    for u0, u1, v0, v1 in bars:
        inside |= (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    return inside


_DIAGONAL = np.float32(np.sqrt(0.5))

_MASKS = {
    # round: outlines made of curves
    "circle": lambda u, v: u**2 + v**2 <= 1.0,
    "oval": lambda u, v: u**2 + (v / 0.55) ** 2 <= 1.0,
    "ring": lambda u, v: (u**2 + v**2 <= 1.0) & (u**2 + v**2 >= 0.5**2),
    "crescent": lambda u, v: (u**2 + v**2 <= 1.0) & ((u - 0.45) ** 2 + (v + 0.15) ** 2 > 0.72),
    # angular: straight edges, regular polygons
    "triangle": lambda u, v: regular_polygon(u, v + 0.2, 3, 0.6, np.pi / 2),
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.8,
    "pentagon": lambda u, v: regular_polygon(u, v, 5, 0.85, np.pi / 2),
    "hexagon": lambda u, v: regular_polygon(u, v, 6, 0.9, 0.0),
    # spiky: points around a centre
    "star": lambda u, v: _points(u, v, 5, 0.4, 3.0),
    "spark": lambda u, v: _points(u, v, 4, 0.2, 4.0),
    "burst": lambda u, v: _points(u, v, 8, 0.5, 2.0),
    "gear": lambda u, v: (np.hypot(u, v) <= 0.7) | ((np.hypot(u, v) <= 1.0) & (np.cos(6 * np.arctan2(u, v)) > 0.3)),
    # blocky: built from bars
    "cross": lambda u, v: _bars(u, v, ((-0.3, 0.3, -0.95, 0.95), (-0.95, 0.95, -0.3, 0.3))),
    "saltire": lambda u, v: _bars(
        (u - v) * _DIAGONAL, (u + v) * _DIAGONAL, ((-0.3, 0.3, -0.95, 0.95), (-0.95, 0.95, -0.3, 0.3))
    ),
    "tee": lambda u, v: _bars(u, v, ((-0.9, 0.9, -0.85, -0.35), (-0.3, 0.3, -0.85, 0.9))),
    "ell": lambda u, v: _bars(u, v, ((-0.7, -0.15, -0.9, 0.9), (-0.7, 0.75, 0.35, 0.9))),
}


def shape_masks(u: np.ndarray, v: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Boolean masks [N, H, W] of the objects whose local coordinates are `u`, `v` [N, H, W].

    `u`, `v` are pixel offsets from each object's centre in the object's rotated frame, divided by
    its radius, so every shape is about the unit disc's size (curved shapes fit inside it, polygon
    corners and bar ends reach out to 1.4); `shape[n]` indexes `SHAPES`.
    """
    return masks_by_code(u, v, shape, SHAPES, _MASKS)
