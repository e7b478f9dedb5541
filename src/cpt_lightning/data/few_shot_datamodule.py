"""The shared base of every benchmark data module: class selection, sampling, caching, loaders.

A subclass only describes its layout: `read_classnames()` (cheap, called in `__init__` so the
CLI can link class names to the model) and `read_splits()` (lists the images, called in
`setup`). Everything else -- base/new selection, few-shot and imbalanced sampling, the
validation subset, the subset cache, the cross-rank check, transforms and loaders -- lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass
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
    describe_image_file,
    feature_cache_applies,
    items_digest,
    transform_identity,
)
from cpt_lightning.data.image_dataset import LabelledImageDataset, open_image_file
from cpt_lightning.data.layout import DatasetLayoutError, require_path, require_root
from cpt_lightning.data.resumable_loader import resumable_train_loader
from cpt_lightning.data.sampling import (
    Item,
    Subsample,
    base_new_split,
    groups_by_rank,
    holdout_counts,
    imbalance_profile,
    imbalance_ranks,
    items_by_label,
    relabel,
    sample_per_class,
)
from cpt_lightning.data.subset_cache import cache_file_name, load_cached_subset, save_subset, subset_digest
from cpt_lightning.data.transforms import EvalTransform, TrainTransform
from cpt_lightning.data.unpadded_sampler import eval_sampler
from cpt_lightning.data.verify import verify_listed_images
from cpt_lightning.image_settings import ImageSettings

log = logging.getLogger(__name__)

MAX_VAL_SHOTS = 4  # CoOp: the validation subset gets min(shots, 4) images per class.


@dataclass
class RawSplits:
    """All images of a benchmark, labels in the full class list. `val=None`: no official val split."""

    train: list[Item]
    val: list[Item] | None
    test: list[Item]


class FewShotDataModule(L.LightningDataModule):
    """Base data module: CoOp-style few-shot, base-to-new and imbalanced sampling over a benchmark.

    `shots=None` trains on every training image; otherwise `n_k` images per training class with
    `n_k = max(1, floor(shots * tau ** (r_k / (K - 1))))` (`tau=1`: `shots` for all). `subsample`
    selects the classes: "all"; "base" / "new" (CoOp's halves, relabelled from 0); "base_to_new"
    (train on base, validate and test on base and new). Validation takes `min(shots, 4)` images per
    class from the official val split, or, where a benchmark has none, from training images that the
    training subset does not use. The sampled subset is cached as JSON under `cache_dir`
    (default `<root>/split_cache`; `use_cache=False` disables it). With `feature_cache`, the frozen
    image features of each split are computed once and reused (see `data/feature_cache.py`); the
    loaders then yield `(ImageFeatures, label)` batches.
    """

    dataset_name: ClassVar[str] = "dataset"
    expected_layout: ClassVar[str] = ""
    test_only: ClassVar[bool] = False

    def __init__(
        self,
        root: str,
        shots: int | None = 16,
        seed: int = 1,
        tau: float = 1.0,
        subsample: Subsample = "all",
        batch_size: int = 32,
        eval_batch_size: int = 100,
        num_workers: int = 4,
        image_settings: ImageSettings | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        feature_cache: FeatureCacheConfig | None = None,
    ) -> None:
        super().__init__()
        if shots is not None and shots < 1:
            raise ValueError(f"shots must be a positive integer or None (all images); got {shots}.")
        if not 0.0 < tau <= 1.0:
            raise ValueError(
                f"tau is the imbalance ratio n_min / n_max and must lie in (0, 1]; got {tau}. "
                "Use tau=1 for balanced data, 0.25 or 0.06 for the imbalanced protocol."
            )
        if tau < 1.0 and shots is None:
            raise ValueError(f"tau={tau} needs `shots` (the head class's count); got shots=None.")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(
                f"seed (the data sampling seed, `data.init_args.seed`) must be a non-negative integer; got {seed!r}."
            )
        if subsample not in ("all", "base", "new", "base_to_new"):
            raise ValueError(f"subsample must be 'all', 'base', 'new' or 'base_to_new'; got {subsample!r}.")
        self.root = Path(root).expanduser()
        self.shots, self.seed, self.tau, self.subsample = shots, seed, tau, subsample
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.image_settings = image_settings
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else self.root / "split_cache"
        self.use_cache = use_cache
        self.feature_cache = feature_cache
        require_root(self.root, type(self).__name__, self.expected_layout)

        self.all_classnames: list[str] = self.read_classnames()
        self.eval_labels: dict[str, list[int]] = self._eval_label_sets(len(self.all_classnames))
        self.train_labels: list[int] = self._train_label_set()
        self.classnames: list[str] = [self.all_classnames[k] for k in self.train_labels]
        self.eval_classnames: dict[str, list[str]] = {
            name: [self.all_classnames[k] for k in labels] for name, labels in self.eval_labels.items()
        }
        self.class_groups: list[str] | None = self._class_groups()
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

    def require(self, relative: str, what: str) -> Path:
        """`root / relative`, or an error that names it and shows the expected layout."""
        return require_path(self.root / relative, type(self).__name__, self.expected_layout, what)

    def load_image(self, key: Hashable) -> Image.Image:
        """Decode one image from its key (a file path here; a row index for HuggingFace data)."""
        return open_image_file(key)

    def image_file(self, key: Hashable) -> Path | None:
        """The file behind an image key, for the stat pass; None where `load_image` reads rows, not files."""
        return Path(str(key)) if type(self).load_image is FewShotDataModule.load_image else None

    def describe_image(self, key: Hashable) -> str:
        """What identifies one image's content for the feature cache: path, size and modification time."""
        return describe_image_file(key)

    # ---- class selection -------------------------------------------------------------------------

    def _eval_label_sets(self, num_classes: int) -> dict[str, list[int]]:
        base, new = base_new_split(num_classes)
        return {
            "all": {"all": list(range(num_classes))},
            "base": {"base": base},
            "new": {"new": new},
            "base_to_new": {"base": base, "new": new},
        }[self.subsample]

    def _train_label_set(self) -> list[int]:
        return self.eval_labels["new"] if self.subsample == "new" else next(iter(self.eval_labels.values()))

    def _ranks(self) -> list[int]:
        return imbalance_ranks(len(self.train_labels), self.seed)

    def _class_groups(self) -> list[str] | None:
        """By the imbalance profile when `tau < 1`, else the benchmark's own groups, else None."""
        if self.tau < 1.0:
            return groups_by_rank(self._ranks())
        groups = self.benchmark_class_groups()
        return None if groups is None else [groups[k] for k in self.train_labels]

    # ---- sampling --------------------------------------------------------------------------------

    def cache_key(self) -> dict[str, Any]:
        """What identifies a sampled subset: dataset, shots, seed, tau, subsample (and the root)."""
        return {
            "dataset": self.dataset_name,
            "shots": self.shots,
            "seed": self.seed,
            "tau": float(self.tau),
            "subsample": self.subsample,
            "root": str(self.root.resolve()),
        }

    def training_class_counts(self) -> list[int] | None:
        """Training images per training class, known before `setup`: the sampled `n_k`, or with every
        image in training the benchmark's own counts (`benchmark_class_counts`), else None."""
        if self.shots is not None:
            return self.per_class_counts()
        counts = self.benchmark_class_counts()
        return None if counts is None else [counts[k] for k in self.train_labels]

    def per_class_counts(self) -> list[int] | None:
        """`n_k` for each training class (None when training on every image)."""
        if self.shots is None:
            return None
        return imbalance_profile(self._ranks(), self.shots, self.tau)

    def _val_pool(self, splits: RawSplits, train_subset: list[Item] | None) -> list[Item]:
        if splits.val is not None:
            return splits.val
        # No official val split: validate on training images the training subset leaves out, so
        # that model selection never looks at the test set. With every image in training
        # (`train_subset=None`) the validation images are removed from training afterwards.
        if train_subset is None:
            return splits.train
        used = {key for key, _ in train_subset}
        return [item for item in splits.train if item[0] not in used]

    def _sample(self, splits: RawSplits) -> dict[str, Any]:
        if self.test_only:
            return {"train": [], "val": {name: [] for name in self.eval_labels}}
        counts = self.per_class_counts()
        train_pool = relabel(splits.train, self.train_labels)
        if counts is None:
            train_in_full_labels: list[Item] | None = None
            train = train_pool
        else:
            train = sample_per_class(train_pool, counts, f"{self.seed}:train", self.classnames)
            back = dict(enumerate(self.train_labels))
            train_in_full_labels = [(key, back[label]) for key, label in train]
        val_pool = self._val_pool(splits, train_in_full_labels)
        val_shots = MAX_VAL_SHOTS if self.shots is None else min(self.shots, MAX_VAL_SHOTS)
        val: dict[str, list[Item]] = {}
        for name, labels in self.eval_labels.items():
            pool = relabel(val_pool, labels)
            if self.shots is None and splits.val is not None:
                val[name] = pool
                continue
            val_counts = [val_shots] * len(labels)
            if counts is None and splits.val is None:
                sizes = [len(bucket) for bucket in items_by_label(pool, len(labels))]
                trains = [label in self.train_labels for label in labels]
                val_counts = holdout_counts(sizes, val_shots, trains, self.eval_classnames[name])
            names = self.eval_classnames[name]
            val[name] = sample_per_class(pool, val_counts, f"{self.seed}:val:{name}", names)
        if counts is None and splits.val is None:
            held_out = {key for items in val.values() for key, _ in items}
            train = [item for item in train if item[0] not in held_out]
        self._require_training_images(train)
        return {
            "train": [list(item) for item in train],
            "val": {name: [list(item) for item in items] for name, items in val.items()},
        }

    def _require_training_images(self, train: list[Item]) -> None:
        have = {label for _, label in train}
        empty = [name for label, name in enumerate(self.classnames) if label not in have]
        if empty:
            raise DatasetLayoutError(
                f"{type(self).__name__}: training classes {empty[:10]} have no training images after sampling "
                f"({len(empty)} of {len(self.classnames)}). Add images to them or remove them from the dataset."
            )

    def _cached_subset_is_valid(self, subset: dict[str, Any], splits: RawSplits) -> bool:
        """A cached subset is trusted only if every item exists in today's source with its label."""
        try:
            train_source = dict(relabel(splits.train, self.train_labels))
            if not all(train_source.get(key) == label for key, label in subset["train"]):
                return False
            val_source = splits.train if splits.val is None else splits.val
            for name, labels in self.eval_labels.items():
                source = dict(relabel(val_source, labels))
                if not all(source.get(key) == label for key, label in subset["val"][name]):
                    return False
            return set(subset["val"]) == set(self.eval_labels)
        except (KeyError, TypeError, ValueError):
            return False

    def _load_or_sample(self, splits: RawSplits) -> dict[str, Any]:
        if not self.use_cache or self.shots is None:
            return self._sample(splits)
        key = self.cache_key()
        path = self.cache_dir / cache_file_name(key)
        cached = load_cached_subset(path, key)
        if cached is not None:
            if self._cached_subset_is_valid(cached, splits):
                log.info("Loaded the sampled subset from %s.", path)
                return cached
            log.warning("Ignoring subset cache %s: it lists images or labels the dataset lacks.", path)
        subset = self._sample(splits)
        save_subset(path, key, subset)
        return subset

    def _check_splits(self, splits: RawSplits) -> None:
        num_classes = len(self.all_classnames)
        for split_name, items in (("train", splits.train), ("val", splits.val or []), ("test", splits.test)):
            bad = [item for item in items if not 0 <= item[1] < num_classes]
            if bad:
                raise DatasetLayoutError(
                    f"{type(self).__name__}: {split_name} item {bad[0][0]} has label {bad[0][1]}, outside "
                    f"0..{num_classes - 1} of the {num_classes} class names. The split and class-name "
                    "files do not match; use the files from docs/DATASETS.md."
                )
        if self.test_only:
            return
        empty = [k for k, bucket in enumerate(items_by_label(splits.train, num_classes)) if not bucket]
        if empty:
            raise DatasetLayoutError(
                f"{type(self).__name__}: class {self.all_classnames[empty[0]]!r} (label {empty[0]}) has no "
                f"training images ({len(empty)} classes have none). Restore its images or fix the split."
            )

    # ---- Lightning hooks -------------------------------------------------------------------------

    def verify_files(self, decode: bool = False) -> RawSplits:
        """List the splits once and check that every listed image file exists; with `decode`, that every
        image decodes. One error lists every bad file (see `data/verify.py`)."""
        if self._splits is not None and not decode:
            return self._splits
        splits = self._splits or self.read_splits()
        self._check_splits(splits)
        listed = {"train": splits.train, "val": splits.val or [], "test": splits.test}
        verify_listed_images(type(self).__name__, listed, self.image_file, self.load_image if decode else None)
        self._splits = splits
        return splits

    def prepare_subsets(self) -> None:
        """List and verify the images and build train / val / test items (idempotent; `setup` calls it)."""
        if self._prepared:
            return
        splits = self.verify_files()
        subset = self._load_or_sample(splits)
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
                f"`shots` and `subsample`, or delete the subset cache in {self.cache_dir} to sample it again."
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

    def _cached_features(self, items: list[Item], train: bool) -> CachedFeatureDataset:
        """The split's features from the cache: augmented views (train, `train_views > 0`) or plain ones."""
        assert self.feature_cache is not None
        augmented = train and self.feature_cache.train_views > 0
        transform = self._train_transform if augmented else self._eval_transform
        identity = {
            "data": type(self).__name__,
            "items": items_digest(items, self.describe_image),
            "transform": transform_identity(transform),
        }
        dataset = LabelledImageDataset(items, transform, self.load_image)
        labels = [label for _, label in items]
        return cached_feature_dataset(
            self, self.feature_cache, dataset, labels, identity, augmentation_seed=self.seed if augmented else None
        )


def resolve_image_settings(datamodule: L.LightningDataModule) -> ImageSettings:
    """The data module's `image_settings`, else the attached model's, else a clear error."""
    settings = getattr(datamodule, "image_settings", None)
    if settings is not None:
        return settings
    trainer = getattr(datamodule, "trainer", None)
    model = getattr(trainer, "lightning_module", None) if trainer is not None else None
    settings = getattr(model, "image_settings", None)
    if settings is None:
        raise RuntimeError(
            f"{type(datamodule).__name__} has no image settings: pass `image_settings=ImageSettings(...)` "
            "or attach it to a Trainer whose LightningModule has an `image_settings` attribute "
            "(CPTModule reads them from the CLIP checkpoint)."
        )
    datamodule.image_settings = settings
    return settings


def assert_same_subset_on_all_ranks(digest: str, owner: str) -> None:
    """Under torch.distributed, fail unless every rank sampled exactly the same subset."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    digests: list[str | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(digests, digest)
    if len(set(digests)) > 1:
        raise RuntimeError(
            f"{owner}: ranks sampled different subsets (digests {digests}). Every rank must see the same "
            "files under `root` and use the same `seed`; check that the dataset is identical on all nodes."
        )
