"""The base of every few-shot data module: class plan, sampled subset, cross-rank check, transforms, loaders.

`SampledDataModule` holds what every few-shot data module does once it can list its images: the
class plan and the sampled subset (`data/subset_plan.py`), the cross-rank check, transforms and
loaders (image files, or cached features). A subclass only describes its data:
`read_classnames()` (cheap, called in `__init__` so the CLI can link class names to the model) and
`read_splits()` (lists the images, called in `setup`). Subclasses declare their own parameters and
forward the rest with `**kwargs`, so every shared parameter is declared here once (jsonargparse
follows `**kwargs` into these signatures, so `--data.help` and `--print_config` still list them,
typed). `FewShotDataModule` (`data/few_shot_datamodule.py`) adds a dataset folder and the subset cache.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from PIL import Image
from torch.utils.data import DataLoader, Sampler

from cpt_lightning.data.feature_cache import (
    CachedFeatureDataset,
    FeatureCacheConfig,
    cached_feature_dataset,
    feature_cache_applies,
)
from cpt_lightning.data.feature_cache_key import describe_image_file, items_digest, transform_identity
from cpt_lightning.data.flip_views import FlipViewsDataset, flip_only_training
from cpt_lightning.data.image_dataset import LabelledImageDataset, open_image_file
from cpt_lightning.data.layout import DatasetLayoutError, check_split_labels
from cpt_lightning.data.model_interface import resolve_image_settings
from cpt_lightning.data.resumable_loader import resumable_train_loader
from cpt_lightning.data.sampling import Item, Subsample, imbalance_ranks, relabel
from cpt_lightning.data.subset_cache import assert_same_subset_on_all_ranks, subset_digest
from cpt_lightning.data.subset_plan import (
    RawSplits,
    check_sampling_arguments,
    check_training_images,
    plan_classes,
    sample_subset,
)
from cpt_lightning.data.transforms import EvalTransform, TrainTransform
from cpt_lightning.data.unpadded_sampler import eval_sampler
from cpt_lightning.data.verify import verify_listed_images
from cpt_lightning.image_settings import ImageSettings


class SampledDataModule(L.LightningDataModule):
    """CoOp-style few-shot, base-to-new and imbalanced sampling over a dataset that lists its images.

    `shots=None` trains on every training image; otherwise `n_k` images per training class with
    `n_k = max(1, floor(shots * tau ** (r_k / (K - 1))))` (`tau=1`: `shots` for all). `subsample`
    selects the classes: "all"; "base" / "new" (CoOp's halves, relabelled from 0); "base_to_new"
    (train on base, validate and test on base and new). Validation takes `min(shots, 4)` images per
    class from the official val split, or, where a dataset has none, from training images that the
    training subset does not use (`data/subset_plan.py`). With `feature_cache`, the frozen image
    features of each split are computed once and reused (see `data/feature_cache.py`); the loaders
    then yield `(ImageFeatures, label)` batches. `image_settings=None` takes the attached model's.
    """

    dataset_name: ClassVar[str] = "dataset"
    expected_layout: ClassVar[str] = ""
    test_only: ClassVar[bool] = False

    def __init__(
        self,
        shots: int | None = 16,
        seed: int = 1,
        tau: float = 1.0,
        subsample: Subsample = "all",
        batch_size: int = 32,
        eval_batch_size: int = 100,
        num_workers: int = 4,
        image_settings: ImageSettings | None = None,
        feature_cache: FeatureCacheConfig | None = None,
    ) -> None:
        super().__init__()
        check_sampling_arguments(shots, tau, subsample, seed)
        self.shots, self.seed, self.tau, self.subsample = shots, seed, tau, subsample
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.image_settings = image_settings
        self.feature_cache = feature_cache
        self.check_source()

        self.all_classnames: list[str] = self.read_classnames()
        self.plan = plan_classes(
            len(self.all_classnames),
            shots,
            seed,
            tau,
            subsample,
            benchmark_groups=self.benchmark_class_groups() if tau == 1.0 else None,
            popularity_ranks=self.popularity_ranks,
        )
        self.eval_labels: dict[str, list[int]] = self.plan.eval_labels
        self.train_labels: list[int] = self.plan.train_labels
        self.classnames: list[str] = [self.all_classnames[k] for k in self.train_labels]
        self.eval_classnames: dict[str, list[str]] = {
            name: [self.all_classnames[k] for k in labels] for name, labels in self.eval_labels.items()
        }
        self.class_groups: list[str] | None = self.plan.class_groups
        self.class_counts: list[int] | None = self.training_class_counts()
        self.train_items: list[Item] = []
        self.val_items: dict[str, list[Item]] = {}
        self.test_items: dict[str, list[Item]] = {}
        self._splits: RawSplits | None = None
        self._prepared = False

    # ---- what a subclass describes -------------------------------------------------------------

    def read_classnames(self) -> list[str]:
        """All class names in label order, read cheaply (a split or class-name file)."""
        raise NotImplementedError

    def read_splits(self) -> RawSplits:
        """List every image of the benchmark with its label (in `all_classnames` order)."""
        raise NotImplementedError

    def benchmark_class_groups(self) -> list[str] | None:
        """Head / medium / tail per class of `all_classnames` defined by the benchmark itself."""
        return None

    def benchmark_class_counts(self) -> list[int] | None:
        """Training images per class of `all_classnames`, where the benchmark lists them cheaply."""
        return None

    def load_image(self, key: Hashable) -> Image.Image:
        """Decode one image from its key (a file path here; a row index for HuggingFace data)."""
        return open_image_file(key)

    def image_file(self, key: Hashable) -> Path | None:
        """The file behind an image key, for the stat pass; None where `load_image` reads rows, not files."""
        return Path(str(key)) if type(self).load_image is SampledDataModule.load_image else None

    def describe_image(self, key: Hashable) -> str:
        """What identifies one image's content for the feature cache: path, size and modification time."""
        return describe_image_file(key)

    def check_source(self) -> None:
        """Fail early, with the expected layout, when the dataset cannot be read at all; nothing by default."""

    def popularity_ranks(self, train_labels: list[int]) -> list[int]:
        """Imbalance rank (0 = head) of each training class: a seeded permutation, the benchmarks' rule."""
        return imbalance_ranks(len(train_labels), self.seed)

    def _ranks(self) -> list[int]:
        return self.plan.ranks

    def training_class_counts(self) -> list[int] | None:
        """Training images per training class, known before `setup`: the sampled `n_k`, or with every
        image in training the benchmark's own counts (`benchmark_class_counts`), else None."""
        if self.shots is not None:
            return self.per_class_counts()
        counts = self.benchmark_class_counts()
        return None if counts is None else [counts[k] for k in self.train_labels]

    def per_class_counts(self) -> list[int] | None:
        """`n_k` for each training class (None when training on every image)."""
        return self.plan.counts

    def sampled_subset(self, splits: RawSplits) -> dict[str, Any]:
        """The training and validation items of this plan (`sample_subset`); test-only data has none."""
        if self.test_only:
            return {"train": [], "val": {name: [] for name in self.eval_labels}}
        subset = sample_subset(self.plan, splits, self.shots, self.seed, self.classnames, self.eval_classnames)
        check_training_images(subset["train"], self.classnames, type(self).__name__)
        return subset

    # ---- Lightning hooks -------------------------------------------------------------------------

    def verify_files(self, decode: bool = False) -> RawSplits:
        """List the splits once and check that every listed image file exists; with `decode`, that every
        image decodes. One error lists every bad file (see `data/verify.py`)."""
        if self._splits is not None and not decode:
            return self._splits
        splits = self._splits or self.read_splits()
        check_split_labels(splits, self.all_classnames, type(self).__name__, require_train=not self.test_only)
        listed = {"train": splits.train, "val": splits.val or [], "test": splits.test}
        verify_listed_images(type(self).__name__, listed, self.image_file, self.load_image if decode else None)
        self._splits = splits
        return splits

    def prepare_subsets(self) -> None:
        """List and verify the images and build train / val / test items (idempotent; `setup` calls it)."""
        if self._prepared:
            return
        splits = self.verify_files()
        subset = self.sampled_subset(splits)
        self.train_items = [(key, label) for key, label in subset["train"]]
        self.val_items = {name: [(k, y) for k, y in items] for name, items in subset["val"].items()}
        self.test_items = {name: relabel(splits.test, labels) for name, labels in self.eval_labels.items()}
        assert_same_subset_on_all_ranks(subset_digest(subset), type(self).__name__)
        self._prepared = True

    def setup(self, stage: str | None = None) -> None:
        settings = resolve_image_settings(self)
        self._train_transform = TrainTransform(settings)
        self._eval_transform = EvalTransform(settings)
        self.prepare_subsets()

    def train_dataloader(self) -> DataLoader:
        if self.test_only:
            raise RuntimeError(f"{type(self).__name__} is a test-only dataset; use it with `cpt test`.")
        if not self.train_items:
            raise DatasetLayoutError(
                f"{type(self).__name__}: the training subset is empty, so a fit would run no step. Check `root`, "
                f"`shots` and `subsample`, or delete the subset cache in {getattr(self, 'cache_dir', None)} to "
                "sample it again."
            )
        if feature_cache_applies(self, self.feature_cache, train=True):
            dataset = self._cached_features(self.train_items, train=True)
            return resumable_train_loader(self, dataset, self.batch_size, self.seed, num_workers=0)
        dataset = LabelledImageDataset(self.train_items, self._train_transform, self.load_image)
        return resumable_train_loader(self, dataset, self.batch_size, self.seed, num_workers=self.num_workers)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._eval_loader(self.val_items[name]) for name in self.eval_classnames]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._eval_loader(self.test_items[name]) for name in self.eval_classnames]

    def predict_dataloader(self) -> list[DataLoader]:
        """`cpt predict` scores the test split, one loader per evaluation set as `cpt test` does."""
        return self.test_dataloader()

    def prediction_keys(self) -> list[list[str]]:
        """The key (file path, or row id) of every image of each predict loader, in loader order."""
        return [[str(key) for key, _ in self.test_items[name]] for name in self.eval_classnames]

    def _eval_loader(self, items: list[Item]) -> DataLoader:
        if feature_cache_applies(self, self.feature_cache, train=False):
            dataset = self._cached_features(items, train=False)
        else:
            dataset = LabelledImageDataset(items, self._eval_transform, self.load_image)
        # Under DDP each test image is scored on exactly one rank (Lightning's sampler would pad).
        return self._loader(dataset, self.eval_batch_size, shuffle=False, sampler=eval_sampler(dataset))

    def _loader(
        self,
        dataset: LabelledImageDataset | CachedFeatureDataset,
        batch_size: int,
        shuffle: bool,
        sampler: Sampler | None = None,
    ) -> DataLoader:
        # Cached features are rows of an in-memory tensor: worker processes would only add start-up time.
        workers = 0 if isinstance(dataset, CachedFeatureDataset) else self.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def exact_training_views(self) -> bool:
        """Whether the cache can hold every augmented training image: the augmentation only flips each
        one (`TrainTransform.flips_only`), so an image has two views."""
        return flip_only_training(self._train_transform, self._train_image_sizes())

    def _train_image_sizes(self) -> list[tuple[int, int]]:
        if self._train_transform.scale != (1.0, 1.0):  # it crops, whatever the sizes: open no image to know
            return []
        if getattr(self, "_train_sizes", (None,))[0] is not self.train_items:
            self._train_sizes = (self.train_items, [self.load_image(key).size for key, _ in self.train_items])
        return self._train_sizes[1]

    def _cached_features(self, items: list[Item], train: bool) -> CachedFeatureDataset:
        """The split's features from the cache: the two flip views (train, `splits="exact"`), augmented
        views (train, `train_views > 0`) or plain ones."""
        assert self.feature_cache is not None
        flips = train and self.feature_cache.splits == "exact"
        augmented = flips or (train and self.feature_cache.train_views > 0)
        transform = self._train_transform if augmented else self._eval_transform
        identity = {
            "data": type(self).__name__,
            "items": items_digest(items, self.describe_image),
            "transform": transform_identity(transform),
        }
        if flips:
            dataset = FlipViewsDataset(items, self._train_transform, self.load_image, self._train_image_sizes())
        else:
            dataset = LabelledImageDataset(items, transform, self.load_image)
        labels = [label for _, label in items]
        seed = self.seed if augmented and not flips else None
        return cached_feature_dataset(self, self.feature_cache, dataset, labels, identity, augmentation_seed=seed)
