"""The two views of training images whose only augmentation is a horizontal flip.

When `TrainTransform.flips_only` holds for every training image (the worlds' default: a crop of the
whole image, then a flip with p = 0.5), an augmented image is one of exactly two images. The
feature cache (`splits="exact"`) then encodes both views once and a training step reads the one
its augmentation seed draws, so the image tower sees the same pixels as without the cache, in
every epoch; only the image tower's batching differs, as for the cached evaluation splits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from cpt_lightning.data.transforms import TrainTransform, to_rgb

log = logging.getLogger(__name__)

NUM_VIEWS = 2  # view 0: not flipped, view 1: flipped


class FlipViewsDataset(Dataset):
    """`(pixel_values, label)` of view v of item i for an index `(i, v)`, under a flip-only `transform`.

    `sizes`: each item's `(width, height)`, which the augmentation's draws depend on.
    """

    def __init__(
        self,
        items: Sequence[tuple[Hashable, int]],
        transform: TrainTransform,
        load_image: Callable[[Hashable], Image.Image],
        sizes: Sequence[tuple[int, int]],
    ) -> None:
        if len(sizes) != len(items):
            raise ValueError(f"FlipViewsDataset: {len(sizes)} image sizes for {len(items)} items.")
        not_flip_only = [i for i, (width, height) in enumerate(sizes) if not transform.flips_only(width, height)]
        if not_flip_only:
            width, height = sizes[not_flip_only[0]]
            raise ValueError(
                f"FlipViewsDataset: item {not_flip_only[0]} ({width} x {height} px) is cropped, not only flipped, "
                f"by a training crop of area scale {transform.scale}; its augmentations have no finite set of views."
            )
        self.items = list(items)
        self.transform = transform
        self.load_image = load_image
        self.sizes = [(int(width), int(height)) for width, height in sizes]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: tuple[int, int]) -> tuple[torch.Tensor, int]:
        item, view = index
        key, label = self.items[item]
        image = to_rgb(self.load_image(key))
        whole = (0, 0, image.width, image.height)
        return self.transform.render(image, whole, bool(view)), label

    def view_of(self, item: int, seed: int) -> int:
        """The view that the augmentation seed `seed` gives item `item` (1 if it flips)."""
        width, height = self.sizes[item]
        return int(self.transform.flip_of_seed(width, height, seed))


def flip_only_training(transform: TrainTransform, sizes: Sequence[tuple[int, int]]) -> bool:
    """Whether `transform` only flips every image of these `(width, height)` sizes (and there is one)."""
    return bool(sizes) and all(transform.flips_only(width, height) for width, height in sizes)


def exact_training_views(datamodule: Any) -> bool:
    """`datamodule.exact_training_views()` if it has one (whether its training images, augmented, form a
    finite set the cache holds exactly); when False, say once that training reads pixels."""
    exact = getattr(datamodule, "exact_training_views", None)
    if exact is not None and exact():
        return True
    if not getattr(datamodule, "_told_train_cache_skipped", False):
        log.info(
            "feature_cache (splits='exact'): training reads pixels, its augmentation has no finite set of views."
        )
        datamodule._told_train_cache_skipped = True
    return False
