"""The data module over the hierarchical world (`cpt_lightning.world.hier`): 256 classes, two-level families."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from cpt_lightning.data.world import WorldDataModule
from cpt_lightning.world.hier.attributes import FAMILY_SIZE
from cpt_lightning.world.hier.datasets import HierWorldDataset, hier_dataset_names

HierWorldName = Literal["sketches", "night", "clutter", "blur"]


class HierWorldDataModule(WorldDataModule):
    """One dataset of the hierarchical world, with the benchmarks' few-shot / base-to-new / `tau` rules.

    256 classes (16 shades in 4 colour families x 16 shapes in 4 shape families), 128 base and 128
    new under the field's rule, every family on both sides (`cpt_lightning.world.hier.datasets`). Use it
    with `clip_name_or_path: builtin:world2_clip`.

    Args:
        popularity: "attributes" (default): a class is as popular as its colour family, its shade's
            place in the family (vivid, dark, light, muted), its shape family and its shape's place
            in the family, each with a seeded popularity; so whole families are head or tail, as
            frequency follows semantics in real long-tailed data. "random": the benchmarks' rule.
        train_pool_per_class / val_pool_per_class / test_per_class: rendered images per class; the
            defaults keep a fit's rendering to about a minute of CPU while the tail third of the
            base classes (42 classes) still gets 1260 test images.
        The rest as in `WorldDataModule`.
    """

    world_class: ClassVar[type] = HierWorldDataset
    world_prefix: ClassVar[str] = "world2"

    @staticmethod
    def world_names() -> list[str]:
        return hier_dataset_names()

    def __init__(
        self,
        dataset: HierWorldName = "night",
        eval_batch_size: int = 256,
        train_pool_per_class: int = 16,
        val_pool_per_class: int = 4,
        test_per_class: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            dataset=dataset,
            eval_batch_size=eval_batch_size,
            train_pool_per_class=train_pool_per_class,
            val_pool_per_class=val_pool_per_class,
            test_per_class=test_per_class,
            **kwargs,
        )

    def popularity_codes(self) -> np.ndarray:
        """(colour family, shade in family, shape family, shape in family) per class: four equal-range levels."""
        family_colour, colour, family_shape, shape = self.world.class_codes.T
        return np.stack([family_colour, colour % FAMILY_SIZE, family_shape, shape % FAMILY_SIZE], axis=1)
