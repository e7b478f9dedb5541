"""A generated dataset of coloured-noise images: data for smoke tests of the whole pipeline."""

from __future__ import annotations

import hashlib
from typing import Literal

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from cpt_lightning.data.feature_cache import (
    CachedFeatureDataset,
    FeatureCacheConfig,
    cached_feature_dataset,
    feature_cache_applies,
)
from cpt_lightning.data.resumable_loader import resumable_train_loader
from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.data.unpadded_sampler import eval_sampler


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


def _select(images: torch.Tensor, labels: torch.Tensor, selected: list[int]) -> _Tensors:
    """The images of the `selected` labels, relabelled to their position in `selected`."""
    keep = torch.isin(labels, torch.tensor(selected))
    new_label = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
    new_label[selected] = torch.arange(len(selected))
    return _Tensors(images[keep], new_label[labels[keep]])


class GeneratedDataModule(LightningDataModule):
    """Class-coloured noise images at the model's crop size, for smoke tests without any files.

    Args:
        classnames: the class names (their number sets the number of classes).
        train_per_class / eval_per_class: images per class in train and val/test.
        image_size: side in pixels (the tiny CLIPs use 32; ViT-B/16 224).
        batch_size: loader batch size.
        seed: generation seed of the train split (eval uses seed + 1).
        class_groups: optional head/medium/tail label per *training* class, passed to the model.
        subsample: "all", or "base_to_new": train on CoOp's base half of `classnames`, evaluate
            on the "base" and "new" halves (each relabelled from 0).
        feature_cache: cache the frozen image features of every split (see
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
        subsample: Literal["all", "base_to_new"] = "all",
        feature_cache: FeatureCacheConfig | None = None,
    ) -> None:
        super().__init__()
        if subsample not in ("all", "base_to_new"):
            raise ValueError(f"subsample must be 'all' or 'base_to_new'; got {subsample!r}.")
        if feature_cache is not None and feature_cache.train_views > 0:
            raise ValueError(
                "GeneratedDataModule does not augment its images, so augmented views would all be equal; "
                f"use FeatureCacheConfig(train_views=0), got train_views={feature_cache.train_views}."
            )
        self.feature_cache = feature_cache
        self.all_classnames = list(classnames)
        base, new = base_new_split(len(self.all_classnames))
        self.eval_labels = {"all": list(range(len(classnames)))} if subsample == "all" else {"base": base, "new": new}
        self.eval_classnames = {
            name: [self.all_classnames[k] for k in labels] for name, labels in self.eval_labels.items()
        }
        self.train_labels = next(iter(self.eval_labels.values()))
        self.classnames = [self.all_classnames[k] for k in self.train_labels]
        if class_groups is not None and len(class_groups) != len(self.classnames):
            raise ValueError(
                f"class_groups has {len(class_groups)} entries for {len(self.classnames)} training classes; "
                "give one group per training class (the base half with subsample='base_to_new')."
            )
        self.class_groups = class_groups
        self.class_counts = [train_per_class] * len(self.classnames)
        self.subsample = subsample
        self.train_per_class, self.eval_per_class = train_per_class, eval_per_class
        self.image_size, self.batch_size, self.seed = image_size, batch_size, seed

    def setup(self, stage: str) -> None:
        n = len(self.all_classnames)
        train = _generated_images(n, self.train_per_class, self.image_size, self.seed)
        evaluation = _generated_images(n, self.eval_per_class, self.image_size, self.seed + 1)
        self.train_set = _select(*train, self.train_labels)
        self.eval_sets = {name: _select(*evaluation, labels) for name, labels in self.eval_labels.items()}

    def exact_training_views(self) -> bool:
        """True: the images are not augmented, so their one view is exactly what training sees."""
        return True

    def train_dataloader(self) -> DataLoader:
        return resumable_train_loader(self, self._maybe_cached(self.train_set, train=True), self.batch_size, self.seed)

    def _eval_loaders(self) -> DataLoader | list[DataLoader]:
        datasets = [self._maybe_cached(dataset, train=False) for dataset in self.eval_sets.values()]
        loaders = [
            DataLoader(dataset, batch_size=self.batch_size, sampler=eval_sampler(dataset)) for dataset in datasets
        ]
        return loaders[0] if self.subsample == "all" else loaders

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders()

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders()

    def predict_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders()

    def _maybe_cached(self, dataset: _Tensors, train: bool) -> _Tensors | CachedFeatureDataset:
        if not feature_cache_applies(self, self.feature_cache, train):
            return dataset
        # The images are generated, not read: their bytes are the dataset's identity.
        digest = hashlib.sha256(dataset.images.numpy().tobytes())
        digest.update(dataset.labels.numpy().tobytes())
        identity = {"data": type(self).__name__, "items": digest.hexdigest(), "transform": None}
        return cached_feature_dataset(self, self.feature_cache, dataset, dataset.labels.tolist(), identity)
