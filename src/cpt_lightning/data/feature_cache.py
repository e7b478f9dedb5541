"""A frozen-feature cache: image features computed once, reused across epochs, seeds and methods.

With a text-only prompt host the image tower is frozen, so an image's
features depend only on the CLIP weights, the image and its transform. A
data module given a `FeatureCacheConfig` encodes each split once, stores the
features on disk under a key that digests all of these, and serves
`(ImageFeatures, label)` batches that `CPTModule.encode_images` uses as they
are. Any change of the image tower's weights, the image settings or the
transform's code, the item list (keys, labels, file sizes and times) or the
augmentation views gives another key, so a stale cache is never read.

Which splits: `splits="eval"` (the shipped benchmark configs) caches only the validation and test
splits, which the deterministic evaluation transform makes exact, and only for a text-only host
(with a host that prompts the image tower, evaluation reads pixels); training reads pixels with
its augmentation as without a cache. `splits="exact"` (the worlds' configs) adds the training split
where that is exact too: when its only augmentation is a horizontal flip, both views of every image
are encoded and each step reads the one its seed draws (`data/flip_views.py`); with crops, training
reads pixels. `splits="all"` also caches the training split (below), the documented opt-in.

Training modes: `train_views=0` encodes each training image once without
augmentation (the evaluation transform); `train_views=n` encodes n augmented
views per image, view v of item i with the augmentation seed
`sample_seed(seed, v, i)` -- exactly the augmentation the uncached loader
gives item i in epoch v. So epochs 0..n-1 see the same augmentations as
without the cache; later epochs reuse a view picked by the epoch's seed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset

from cpt_lightning.atomic_write import atomic_write
from cpt_lightning.data.epoch_sampler import sample_seed
from cpt_lightning.data.feature_cache_key import cache_digest, image_tower_fingerprint
from cpt_lightning.data.flip_views import NUM_VIEWS, FlipViewsDataset, exact_training_views
from cpt_lightning.data.model_interface import attached_image_encoder
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.models.image_features import ImageFeatures, reject_image_prompting_host
from cpt_lightning.process_cache import cached
from cpt_lightning.progress import progress

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when what a cache file holds, or how features are computed, changes
DIRECTORY_ENV = "CPT_FEATURE_CACHE"
DEFAULT_DIRECTORY = "~/.cache/cpt_lightning/features"
CacheSplits = Literal["all", "eval", "exact"]
CACHE_SPLITS = ("all", "eval", "exact")


@dataclass(frozen=True)
class FeatureCacheConfig:
    """Where and how a data module caches frozen image features.

    Args:
        directory: folder of the cache files (one `<digest>.pt` per split,
            model, transform and views); shared by any number of runs.
            None: `$CPT_FEATURE_CACHE`, else `~/.cache/cpt_lightning/features`.
        splits: "all": every split, training included (`train_views` says how);
            "eval": only validation and test splits, and only with a text-only
            host -- exact, so the shipped configs turn it on; "exact": as "eval",
            plus the training split when its augmentation is a flip alone (its
            two views, `data/flip_views.py`; `train_views` is not used).
        train_views: 0: training images encoded once, without augmentation
            (resize and centre crop, as in evaluation); n >= 1: n augmented
            views per image (view v = the uncached loader's epoch-v augmentation).
        encode_batch_size: images per image-tower call while building.
        num_workers: DataLoader workers that decode images while building.
    """

    directory: str | None = None
    splits: CacheSplits = "all"
    train_views: int = 0
    encode_batch_size: int = 64
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.splits not in CACHE_SPLITS:
            raise ValueError(f"FeatureCacheConfig.splits must be one of {CACHE_SPLITS}, got {self.splits!r}.")
        if self.train_views < 0:
            raise ValueError(f"FeatureCacheConfig.train_views must be >= 0, got {self.train_views}.")
        if self.encode_batch_size < 1:
            raise ValueError(f"FeatureCacheConfig.encode_batch_size must be >= 1, got {self.encode_batch_size}.")

    def resolved_directory(self) -> Path:
        """`directory`, else `$CPT_FEATURE_CACHE`, else `~/.cache/cpt_lightning/features`."""
        return Path(self.directory or os.environ.get(DIRECTORY_ENV) or DEFAULT_DIRECTORY).expanduser()


def feature_cache_applies(datamodule: Any, config: FeatureCacheConfig | None, train: bool) -> bool:
    """Whether a split's loader serves cached features: never without a config; for training with
    `splits="all"`, or with `splits="exact"` if `datamodule.exact_training_views()`; with "eval" and
    "exact" only for a text-only host (the image tower is frozen)."""
    if config is None or (train and config.splits == "eval"):
        return False
    if config.splits == "all":
        return True  # an image-prompting host is refused with a clear error in `cached_feature_dataset`
    if train and not exact_training_views(datamodule):
        return False
    trainer = getattr(datamodule, "trainer", None)
    learner = getattr(getattr(trainer, "lightning_module", None), "prompt_learner", None)
    if learner is not None and learner.prompts_images:
        if not getattr(datamodule, "_told_eval_cache_skipped", False):
            log.info(
                "feature_cache (splits=%r) is not used: %s prompts the image tower, so every split reads pixels.",
                config.splits,
                type(learner).__name__,
            )
            datamodule._told_eval_cache_skipped = True
        return False
    return True


# ---- building, storing, loading ----------------------------------------------------------------


@torch.no_grad()
def encode_dataset(
    clip: FrozenClip,
    dataset: Dataset,
    indices: Sequence[int | tuple[int, int]],
    batch_size: int,
    num_workers: int,
    device: torch.device,
) -> torch.Tensor:
    """Image features (float32, on the CPU) of `dataset[index]` for each of `indices`, in order."""
    loader = DataLoader(dataset, batch_size=batch_size, sampler=list(indices), num_workers=num_workers)
    batches = progress(loader, desc="Caching image features")
    chunks = [clip.encode_images(pixel_values.to(device)).float().cpu() for pixel_values, _ in batches]
    return torch.cat(chunks) if chunks else torch.empty(0, clip.config.projection_dim)


def save_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the whole new one."""
    with atomic_write(path) as stream:
        torch.save(payload, stream)


def load_cached(path: Path, key: dict[str, Any], num_items: int) -> torch.Tensor | None:
    """The features stored at `path` if it exists and was built for exactly `key` (JSON-normalised), else None."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file is rebuilt, never trusted
        log.warning("Ignoring unreadable feature cache %s (%s).", path, error)
        return None
    features = payload.get("features") if isinstance(payload, dict) else None
    if features is None or payload.get("key") != key:
        log.warning("Ignoring feature cache %s: it was built for another key.", path)
        return None
    if features.shape[0] != num_items:
        return None
    return features


# ---- what the loaders serve ----------------------------------------------------------------------


class CachedFeatureDataset(Dataset):
    """`(ImageFeatures[D], label)` rows from cached features `[N, V, D]`.

    Takes plain indices or a `SeededEpochSampler`'s `(index, seed)`: with
    several views, the seed of epoch e < V selects view e (the view built with
    that very seed); later epochs take view `seed % V`; with `view_of`, the view
    is `view_of(index, seed)` in every epoch. `built` says whether this
    dataset's features were computed (True) or read from `cache_file`.
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: Sequence[int],
        view_seeds: torch.Tensor | None = None,
        cache_file: Path | None = None,
        built: bool = False,
        view_of: Callable[[int, int], int] | None = None,
    ) -> None:
        self.features = features
        self.labels = [int(label) for label in labels]
        self.cache_file, self.built = cache_file, built
        self.view_of = view_of
        self._view_of_seed: dict[tuple[int, int], int] = {}
        if view_seeds is not None:
            for index, seeds in enumerate(view_seeds.tolist()):
                for view, seed in enumerate(seeds):
                    self._view_of_seed[(index, seed)] = view

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[ImageFeatures, int]:
        index, seed = index if isinstance(index, tuple) else (index, None)
        views = self.features.shape[1]
        if self.view_of is not None and seed is not None:
            view = self.view_of(index, seed)
        else:
            view = 0 if views == 1 or seed is None else self._view_of_seed.get((index, seed), seed % views)
        return ImageFeatures.wrap(self.features[index, view]), self.labels[index]


def view_seeds(seed: int, num_items: int, views: int) -> torch.Tensor:
    """`[N, V]` augmentation seeds: view v of item i uses the uncached loader's epoch-v seed."""
    return torch.tensor([[sample_seed(seed, view, index) for view in range(views)] for index in range(num_items)])


def cached_feature_dataset(
    datamodule: Any,
    config: FeatureCacheConfig,
    dataset: Dataset,
    labels: Sequence[int],
    identity: dict[str, Any],
    augmentation_seed: int | None = None,
) -> CachedFeatureDataset:
    """Load (or build and store) the features of `dataset` for the model attached to `datamodule`'s trainer.

    `identity` describes the images and their transform (see `items_digest`,
    `transform_identity`); the image tower's fingerprint is added here. With
    `augmentation_seed`, `config.train_views` augmented views are built from
    `dataset[(index, seed)]`; a `FlipViewsDataset` gives its two views
    `dataset[(index, view)]`; otherwise one plain view per item. Under DDP,
    rank 0 builds and writes while the others wait, then every rank reads.
    """
    model = attached_image_encoder(datamodule)
    clip, trainer = model.clip, datamodule.trainer
    reject_image_prompting_host(model.prompt_learner, ValueError)
    flips = isinstance(dataset, FlipViewsDataset)
    views = NUM_VIEWS if flips else config.train_views if augmentation_seed is not None else 0
    seeds = view_seeds(augmentation_seed, len(labels), views) if views and not flips else None
    key = {
        "format": CACHE_FORMAT,
        "image_tower": _fingerprint(datamodule, clip),
        "views": "flip" if flips else views,
        "augmentation_seed": augmentation_seed if views else None,
        **identity,
    }
    key = json.loads(json.dumps(key, sort_keys=True, default=str))  # as stored: tuples become lists
    path = config.resolved_directory() / f"{cache_digest(key)}.pt"

    def build() -> torch.Tensor:
        if flips:
            indices = [(index, view) for view in range(views) for index in range(len(labels))]
        elif views:
            indices = [(index, int(seed)) for view in range(views) for index, seed in enumerate(seeds[:, view])]
        else:
            indices = list(range(len(labels)))
        device = next(clip.parameters()).device
        features = encode_dataset(clip, dataset, indices, config.encode_batch_size, config.num_workers, device)
        # The width is named, not inferred: an empty split (no items) has no features to infer it from.
        features = features.view(max(views, 1), len(labels), clip.config.projection_dim).transpose(0, 1).contiguous()
        save_atomically(path, {"key": key, "features": features})
        return features

    def load_or_build() -> tuple[torch.Tensor, bool]:
        built = False
        is_zero = trainer.is_global_zero
        features = load_cached(path, key, len(labels)) if is_zero else None
        if is_zero and features is None:
            log.info("Building the feature cache %s (%d images x %d views).", path, len(labels), max(views, 1))
            features, built = build(), True
        trainer.strategy.barrier("feature_cache")
        if features is None:
            features = load_cached(path, key, len(labels))
        if features is None:  # a rank whose filesystem does not see rank 0's file builds its own
            features, built = build(), True
        return features, built

    # Inside `process_cache()` a split's features stay in memory under their file's full key.
    memory_key = None if trainer.world_size > 1 else (str(path), json.dumps(key, sort_keys=True))
    ran: list[bool] = []
    features, built = cached("image_features", memory_key, lambda: ran.append(True) or load_or_build())
    built = built and bool(ran)  # taken from memory: nothing was built for this fit
    view_of = dataset.view_of if flips else None
    return CachedFeatureDataset(features, labels, seeds, cache_file=path, built=built, view_of=view_of)


def _fingerprint(datamodule: Any, clip: FrozenClip) -> str:
    # Hashing ViT-B/16's weights takes a moment; a fit asks for it once per split, and a process
    # that loaded the same files (`process_cache`) once.
    memo = getattr(datamodule, "_image_tower_fingerprint", None)
    if memo is not None and memo[0] is clip:
        return memo[1]
    fingerprint = cached("image_tower_fingerprint", clip.cache_key, lambda: image_tower_fingerprint(clip))
    datamodule._image_tower_fingerprint = (clip, fingerprint)
    return fingerprint
