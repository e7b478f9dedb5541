"""A generated dataset of coloured-noise images: data for smoke tests of the whole pipeline."""

from __future__ import annotations

import hashlib

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from cpt_lightning.data.feature_cache import CachedFeatureDataset, FeatureCacheConfig, cached_feature_dataset
from cpt_lightning.data.resumable_loader import resumable_train_loader


def _generated_images(num_classes: int, per_class: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose mean colour and blob position depend on the class, plus noise (normalised-scale)."""
    generator = torch.Generator().manual_seed(seed)
    class_colour = torch.randn(num_classes, 3, 1, 1, generator=torch.Generator().manual_seed(1234))
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    noise = torch.randn(len(labels), 3, size, size, generator=generator)
    return class_colour[labels] + 0.5 * noise, labels


class _Tensors(Dataset):
    """`(image, label)` rows; accepts the `(index, seed)` keys of `SeededEpochSampler` (nothing is random here)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = index[0] if isinstance(index, tuple) else index
        return self.images[index], self.labels[index]


class GeneratedDataModule(LightningDataModule):
    """Class-coloured noise images at the model's crop size, for smoke tests without any files.

    Args:
        classnames: the class names (their number sets the number of classes).
        train_per_class / eval_per_class: images per class in train and val/test.
        image_size: side in pixels (the tiny CLIPs use 32; ViT-B/16 224).
        batch_size: loader batch size.
        seed: generation seed of the train split (eval uses seed + 1).
        class_groups: optional head/medium/tail label per class, passed to the model.
        feature_cache: cache the frozen image features of both splits (see
            `data/feature_cache.py`); the images are not augmented, so
            `train_views` must be 0.
    """

    def __init__(
        self,
        classnames: list[str],
        train_per_class: int = 8,
        eval_per_class: int = 4,
        image_size: int = 32,
        batch_size: int = 16,
        seed: int = 0,
        class_groups: list[str] | None = None,
        feature_cache: FeatureCacheConfig | None = None,
    ) -> None:
        super().__init__()
        if feature_cache is not None and feature_cache.train_views > 0:
            raise ValueError(
                "GeneratedDataModule does not augment its images, so augmented views would all be equal; "
                f"use FeatureCacheConfig(train_views=0), got train_views={feature_cache.train_views}."
            )
        self.feature_cache = feature_cache
        self.classnames = list(classnames)
        self.class_groups = class_groups
        self.eval_classnames = {"all": self.classnames}
        self.train_per_class, self.eval_per_class = train_per_class, eval_per_class
        self.image_size, self.batch_size, self.seed = image_size, batch_size, seed

    def setup(self, stage: str) -> None:
        n = len(self.classnames)
        self.train_set = _Tensors(*_generated_images(n, self.train_per_class, self.image_size, self.seed))
        self.eval_set = _Tensors(*_generated_images(n, self.eval_per_class, self.image_size, self.seed + 1))

    def train_dataloader(self) -> DataLoader:
        return resumable_train_loader(self, self._maybe_cached(self.train_set), self.batch_size, self.seed)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._maybe_cached(self.eval_set), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._maybe_cached(self.eval_set), batch_size=self.batch_size)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_set, batch_size=self.batch_size)

    def _maybe_cached(self, dataset: _Tensors) -> _Tensors | CachedFeatureDataset:
        if self.feature_cache is None:
            return dataset
        # The images are generated, not read: their bytes are the dataset's identity.
        digest = hashlib.sha256(dataset.images.numpy().tobytes())
        digest.update(dataset.labels.numpy().tobytes())
        identity = {"data": type(self).__name__, "items": digest.hexdigest(), "transform": None}
        return cached_feature_dataset(self, self.feature_cache, dataset, dataset.labels.tolist(), identity)
