"""Image transforms built from a checkpoint's `ImageSettings`, with PIL and torch only.

Train: random-resized-crop (torchvision's algorithm: scale (0.08, 1), ratio (3/4, 4/3), ten
tries then a centre-crop fallback) to `crop_size`, then a horizontal flip with p = 0.5.
Eval: resize the shortest edge to `resize_shortest_edge`, centre-crop `crop_size`.
Both convert to RGB, scale to [0, 1] and normalise with the checkpoint's mean / std.
"""

from __future__ import annotations

import functools
import math
import os
import random

import numpy as np
import torch
from PIL import Image

from cpt_lightning.image_settings import ImageSettings

_PIL_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def pil_resample(interpolation: str) -> Image.Resampling:
    """The PIL resampling filter named by `ImageSettings.interpolation`."""
    try:
        return _PIL_RESAMPLE[interpolation]
    except KeyError:
        raise ValueError(f"Unknown interpolation {interpolation!r}; expected one of {sorted(_PIL_RESAMPLE)}.") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert grayscale, palette, CMYK or RGBA images to RGB (alpha is dropped)."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        # Palette images may carry transparency; going through RGBA keeps PIL from warning.
        image = image.convert("RGBA")
    return image.convert("RGB")


def normalize_to_tensor(image: Image.Image, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """RGB PIL image -> float tensor [3, H, W]: `(pixel / 255 - mean) / std`."""
    array = np.asarray(image, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return tensor.sub_(mean_t).div_(std_t)


def random_resized_crop_box(
    width: int,
    height: int,
    rng: random.Random,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """torchvision's `RandomResizedCrop.get_params`: a crop box `(left, top, right, bottom)`.

    Up to ten tries sample an area fraction in `scale` and a log-uniform aspect ratio in
    `ratio`; if none fits, fall back to the largest centred crop whose ratio lies in `ratio`.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(*scale)
        aspect_ratio = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = rng.randint(0, height - h)
            left = rng.randint(0, width - w)
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    top, left = (height - h) // 2, (width - w) // 2
    return left, top, left + w, top + h


class TrainTransform:
    """Random-resized-crop to `crop_size`, horizontal flip, normalise.

    Randomness comes from a `random.Random` owned by this object and re-seeded from
    `torch.initial_seed()` whenever it runs in a new process or DataLoader worker (torch seeds
    each worker differently, and `seed_everything(workers=True)` makes those seeds reproducible),
    so workers never share a stream and the global RNGs are never touched. Given a `seed`
    (from `SeededEpochSampler`), the sample's augmentation depends on that seed alone, which
    makes it independent of workers and exactly reproducible on resume.
    """

    def __init__(self, settings: ImageSettings, scale: tuple[float, float] = (0.08, 1.0)) -> None:
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1 (area fractions); got {scale}.")
        self.settings = settings
        self.scale = (float(scale[0]), float(scale[1]))
        self.resample = pil_resample(settings.interpolation)
        self._rng = random.Random()
        self._seeded_for: tuple[int, int] | None = None

    def _generator(self) -> random.Random:
        owner = (os.getpid(), torch.initial_seed())
        if self._seeded_for != owner:
            self._rng.seed(torch.initial_seed())
            self._seeded_for = owner
        return self._rng

    def __call__(self, image: Image.Image, seed: int | None = None) -> torch.Tensor:
        rng = self._generator() if seed is None else random.Random(seed)
        image = to_rgb(image)
        box, flip = self.draw(image.width, image.height, rng)
        return self.render(image, box, flip)

    def draw(self, width: int, height: int, rng: random.Random) -> tuple[tuple[int, int, int, int], bool]:
        """The random part of one augmentation: the crop box, then whether to flip."""
        return augmentation_draw(width, height, rng, self.scale)

    def render(self, image: Image.Image, box: tuple[int, int, int, int], flip: bool) -> torch.Tensor:
        """The deterministic part: crop `box` of the RGB `image`, resize to `crop_size`, flip, normalise."""
        size = self.settings.crop_size
        image = image.resize((size, size), self.resample, box=box)
        if flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return normalize_to_tensor(image, self.settings.mean, self.settings.std)

    def flips_only(self, width: int, height: int) -> bool:
        """Whether every augmentation of a `width x height` image crops the whole image, leaving the flip
        as its only randomness (so the image has exactly two views).

        True for the area scale (1, 1) on a square image: a try fits only if `round(n sqrt(r)) <= n` and
        `round(n / sqrt(r)) <= n`, which forces `|log r|` so small that both round to n; the top-left
        corner is then (0, 0), and the fallback is the whole image too.
        """
        return self.scale == (1.0, 1.0) and width == height

    def flip_of_seed(self, width: int, height: int, seed: int) -> bool:
        """Whether the augmentation drawn from `seed` flips a `width x height` image (the draws of `__call__`)."""
        return _flip_of_seed(width, height, seed, self.scale)


def augmentation_draw(
    width: int, height: int, rng: random.Random, scale: tuple[float, float]
) -> tuple[tuple[int, int, int, int], bool]:
    """`TrainTransform`'s draws for a `width x height` image: the crop box, then whether to flip."""
    box = random_resized_crop_box(width, height, rng, scale=scale)
    return box, rng.random() < 0.5


@functools.lru_cache(maxsize=1 << 17)
def _flip_of_seed(width: int, height: int, seed: int, scale: tuple[float, float]) -> bool:
    # The runs of a study that share a seed draw the same augmentation seeds: replay each draw once.
    return augmentation_draw(width, height, random.Random(seed), scale)[1]


class EvalTransform:
    """Resize the shortest edge to `resize_shortest_edge`, centre-crop `crop_size`, normalise.

    Rounding follows torchvision's `Resize(int)` (long edge `int(size * long / short)`) and
    `CenterCrop` (offset `round((extent - crop) / 2)`), as in CLIP's and CoOp's preprocessing.
    """

    def __init__(self, settings: ImageSettings) -> None:
        if settings.resize_shortest_edge < settings.crop_size:
            raise ValueError(
                f"resize_shortest_edge ({settings.resize_shortest_edge}) is smaller than crop_size "
                f"({settings.crop_size}); the centre crop would not fit. Fix the image settings."
            )
        self.settings = settings
        self.resample = pil_resample(settings.interpolation)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = to_rgb(image)
        short_target = self.settings.resize_shortest_edge
        width, height = image.size
        if width <= height:
            new_size = (short_target, int(short_target * height / width))
        else:
            new_size = (int(short_target * width / height), short_target)
        if new_size != image.size:
            image = image.resize(new_size, self.resample)
        crop = self.settings.crop_size
        left = int(round((new_size[0] - crop) / 2.0))
        top = int(round((new_size[1] - crop) / 2.0))
        image = image.crop((left, top, left + crop, top + crop))
        return normalize_to_tensor(image, self.settings.mean, self.settings.std)
