"""A map-style dataset of (image key, label) items that decodes images lazily."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset


class CorruptImageError(RuntimeError):
    """An image file exists but cannot be decoded."""


def open_image_file(path: Hashable) -> Image.Image:
    """Open and fully decode one image file, naming the file when it is corrupt or truncated."""
    try:
        with Image.open(Path(str(path))) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise FileNotFoundError(
                f"Image file {path} listed by the split is missing. Re-extract the dataset archive "
                "or regenerate the split / cache that lists it."
            ) from error
        raise CorruptImageError(
            f"Could not decode image file {path} ({type(error).__name__}: {error}). The file is "
            "corrupt or truncated: re-download it, or delete it and remove it from the split file."
        ) from error


class LabelledImageDataset(Dataset):
    """`(pixel_values, label)` pairs from `(key, label)` items.

    `load_image(key)` returns a PIL image: `open_image_file` for paths, a row reader for
    HuggingFace datasets. `transform` turns it into a `[3, H, W]` float tensor.
    """

    def __init__(
        self,
        items: Sequence[tuple[Hashable, int]],
        transform: Callable[[Image.Image], torch.Tensor],
        load_image: Callable[[Hashable], Image.Image] = open_image_file,
    ) -> None:
        self.items = list(items)
        self.transform = transform
        self.load_image = load_image

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        # A `SeededEpochSampler` passes `(index, augmentation_seed)` so that random
        # augmentation is a function of the sample and epoch, not of process history.
        index, seed = index if isinstance(index, tuple) else (index, None)
        key, label = self.items[index]
        image = self.load_image(key)
        return (self.transform(image) if seed is None else self.transform(image, seed=seed)), label
