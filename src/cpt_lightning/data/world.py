"""Data modules over the offline demo world: rendered images, CoOp's sampling rules, no files."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Hashable
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image

from cpt_lightning.data.model_interface import resolve_image_settings
from cpt_lightning.data.sampled_datamodule import SampledDataModule
from cpt_lightning.data.sampling import Subsample
from cpt_lightning.data.subset_plan import RawSplits
from cpt_lightning.data.transforms import TrainTransform
from cpt_lightning.world import WorldDataset, world_dataset_names

WorldName = Literal["sketches", "night", "sepia", "clutter", "blur"]
Popularity = Literal["attributes", "random"]


def attribute_popularity_ranks(class_codes: np.ndarray, seed: int) -> list[int]:
    """Imbalance ranks (0 = head) where a class is as popular as its attributes are.

    Every attribute value gets a popularity rank from a seeded permutation of the values present
    in `class_codes` [K, A]; a class's key is the sum of its values' ranks (the log of a product
    of per-attribute Zipf popularities), ties broken by a seeded random order. So the head shares
    a few popular colours and shapes and the tail the unpopular ones, as frequency follows
    semantics in real long-tailed data (iNaturalist's insects, Places' common scenes).
    """
    rng = np.random.default_rng((seed, 0x9090))
    key = np.zeros(len(class_codes))
    for column in class_codes.T:
        values = np.unique(column)
        value_rank = dict(zip(values[rng.permutation(len(values))].tolist(), range(len(values)), strict=True))
        key += [value_rank[v] for v in column.tolist()]
    order = np.lexsort((rng.permutation(len(class_codes)), key))  # by key, then the random tie-break
    ranks = [0] * len(class_codes)
    for rank, label in enumerate(order.tolist()):
        ranks[label] = rank
    return ranks


@functools.lru_cache(maxsize=16)
def _rendered(
    world: type, dataset: str, split: str, per_class: int, world_seed: int
) -> tuple[np.ndarray, np.ndarray, str]:
    # Rendering is deterministic, and a study runs many fits on the same pools in one process
    # (the reproduce runner's --in-process mode): render each pool once. The digest of the pixels
    # is the pool's identity for the feature cache (a changed renderer changes it).
    images, labels = world(dataset).render_split(split, per_class, seed=world_seed)
    images.setflags(write=False)
    return images, labels, hashlib.sha256(images.tobytes()).hexdigest()


class WorldDataModule(SampledDataModule):
    """One downstream dataset of the demo world, with the benchmarks' few-shot / base-to-new / `tau` rules.

    Images are rendered in memory, deterministically from `world_seed`: a
    training pool of `train_pool_per_class` images per class (the few-shot
    and imbalanced subsets are drawn from it exactly as for a real benchmark),
    a validation pool and `test_per_class` test images per class. Nothing is
    read from disk and the sampled subset is not cached (it is cheaper to draw than to check); only a
    `feature_cache` writes there.

    Args:
        dataset: which world dataset (`cpt_lightning.world.world_dataset_names()`).
        train_pool_per_class / val_pool_per_class / test_per_class: rendered images per class.
        world_seed: the rendering seed (distinct from `seed`, which drives sampling).
        popularity: which base classes get many shots when `tau < 1`. "attributes" (default):
            class frequency follows its colour's and shape's seeded popularity
            (`attribute_popularity_ranks`), so head classes share attributes and a shared
            prompt can learn to favour them, the way the long tail hurts prompt tuning on real
            data. "random": the benchmarks' rule, a seeded random class order, under which a
            shared prompt has nothing to favour and the tail barely suffers (docs/world.md).
        crop_scale: area range of the training random-resized crop. Default (1, 1): flips
            only, because a world object is a few pixels of a 32 px image at a random place and
            crops cut it away (measured on `sketches`: CoOp's base accuracy fell below zero-shot
            with (0.5, 1), and rose above it without crops).
        The rest (seed, tau, batch_size, image_settings, feature_cache) as in `SampledDataModule`.
    """

    dataset_name = "world"
    # The world this module draws from: its dataset class, dataset names, and the prefix of `dataset_name`.
    world_class: ClassVar[type] = WorldDataset
    world_prefix: ClassVar[str] = "world"

    @staticmethod
    def world_names() -> list[str]:
        return world_dataset_names()

    def __init__(
        self,
        dataset: WorldName = "sketches",
        shots: int | None = 16,
        subsample: Subsample = "base_to_new",
        eval_batch_size: int = 200,
        num_workers: int = 0,
        train_pool_per_class: int = 32,
        val_pool_per_class: int = 8,
        test_per_class: int = 50,
        world_seed: int = 2026,
        popularity: Popularity = "attributes",
        crop_scale: tuple[float, float] = (1.0, 1.0),
        **kwargs: Any,
    ) -> None:
        if dataset not in self.world_names():
            raise ValueError(f"Unknown {self.world_prefix} dataset {dataset!r}; choose one of {self.world_names()}.")
        if shots is not None and shots > train_pool_per_class:
            raise ValueError(f"shots={shots} exceeds train_pool_per_class={train_pool_per_class}; raise the pool size.")
        self.world = self.world_class(dataset)
        self.dataset_name = f"{self.world_prefix}-{dataset}"
        self.train_pool_per_class = train_pool_per_class
        self.val_pool_per_class = val_pool_per_class
        self.test_per_class = test_per_class
        self.world_seed = world_seed
        if popularity not in ("attributes", "random"):
            raise ValueError(f"popularity must be 'attributes' or 'random'; got {popularity!r}.")
        self.popularity = popularity
        self.crop_scale = tuple(crop_scale)
        self._images: dict[str, np.ndarray] = {}
        self._pool_digests: dict[str, str] = {}
        super().__init__(
            shots=shots, subsample=subsample, eval_batch_size=eval_batch_size, num_workers=num_workers, **kwargs
        )

    def popularity_ranks(self, train_labels: list[int]) -> list[int]:
        if self.popularity == "random":
            return super().popularity_ranks(train_labels)
        return attribute_popularity_ranks(self.popularity_codes()[train_labels], self.seed)

    def popularity_codes(self) -> np.ndarray:
        """[K, A] attribute codes whose seeded popularities set a class's imbalance rank."""
        return self.world.class_codes

    def read_classnames(self) -> list[str]:
        return list(self.world.classnames)

    def read_splits(self) -> RawSplits:
        counts = {"train": self.train_pool_per_class, "val": self.val_pool_per_class, "test": self.test_per_class}
        items = {}
        for split, per_class in counts.items():
            images, labels, self._pool_digests[split] = _rendered(
                self.world_class, self.world.name, split, per_class, self.world_seed
            )
            self._images[split] = images
            items[split] = [(f"{split}/{i}", int(label)) for i, label in enumerate(labels)]
        return RawSplits(train=items["train"], val=items["val"], test=items["test"])

    def describe_image(self, key: Hashable) -> str:
        """A rendered image's key with its pool's pixel digest (the feature cache's identity of the image)."""
        return f"{self._pool_digests[str(key).split('/')[0]]}/{key}"

    def load_image(self, key: Hashable) -> Image.Image:
        split, index = str(key).split("/")
        return Image.fromarray(self._images[split][int(index)])

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        self._train_transform = TrainTransform(resolve_image_settings(self), scale=self.crop_scale)
