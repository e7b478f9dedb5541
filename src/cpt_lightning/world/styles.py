"""Picture styles: how a downstream world dataset departs from the clean pretraining photos.

Each whole-image style is a function `(images float32 [N, H, W, 3] in [0, 1], severity [N], rng)
-> images`; severity 0 leaves the picture a clean photo, 1 is the strongest shift. "sketch" and
"clutter" change what is drawn, so they live in the renderer (`render.py`), not here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Luminance-preserving sepia toning (the classic photo-editor matrix, rows normalised to sum 1).
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)
_SEPIA /= _SEPIA.sum(axis=1, keepdims=True) / np.array([[1.0], [0.9], [0.7]], dtype=np.float32)


def _per_image(severity: np.ndarray) -> np.ndarray:
    return severity.astype(np.float32)[:, None, None, None]


def darken(images: np.ndarray, severity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low light and low contrast: pull towards the image mean, dim, and add sensor noise."""
    s = _per_image(severity)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    images = mean + (images - mean) * (1.0 - 0.55 * s)
    images = images * (1.0 - 0.75 * s)
    return images + rng.normal(0.0, 1.0, images.shape).astype(np.float32) * 0.05 * s


def sepia(images: np.ndarray, severity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An old-photo colour cast: blend towards sepia toning, which keeps brightness and erases hue."""
    s = _per_image(severity) * 0.85
    return images * (1.0 - s) + (images @ _SEPIA.T) * s


def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    # Blurring along one axis is a matrix product; rows renormalised so borders keep their brightness.
    position = np.arange(size, dtype=np.float32)
    weights = np.exp(-0.5 * ((position[:, None] - position[None, :]) / sigma) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def blur(images: np.ndarray, severity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Defocus: a separable Gaussian blur with sigma from 0.3 px (severity 0) to 2.3 px (severity 1)."""
    out = images.copy()
    size = images.shape[1]
    for n, s in enumerate(severity):
        if s > 0:
            g = _gaussian_matrix(size, 0.3 + 2.0 * float(s))
            out[n] = np.einsum("ij,jkc,lk->ilc", g, images[n], g)
    return out


WHOLE_IMAGE_STYLES: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
    "dark": darken,
    "sepia": sepia,
    "blur": blur,
}
