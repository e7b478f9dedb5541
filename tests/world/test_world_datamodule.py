"""The world data module applies the benchmarks' sampling rules to rendered images."""

from __future__ import annotations

import math

import pytest
import torch

from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.data.world import WorldDataModule
from cpt_lightning.models.image_settings import ImageSettings
from cpt_lightning.world import WorldDataset

SETTINGS = ImageSettings(crop_size=32, resize_shortest_edge=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_base_to_new_classes_and_imbalanced_counts_follow_the_profile():
    module = WorldDataModule(
        "sepia",
        shots=16,
        tau=0.06,
        seed=2,
        image_settings=SETTINGS,
        train_pool_per_class=16,
        val_pool_per_class=4,
        test_per_class=1,
    )
    names = WorldDataset("sepia").classnames
    base, new = base_new_split(len(names))
    assert module.classnames == [names[k] for k in base] == module.eval_classnames["base"]
    assert module.eval_classnames["new"] == [names[k] for k in new]
    module.setup("fit")
    counts = torch.bincount(torch.tensor([label for _, label in module.train_items]), minlength=len(base))
    expected = sorted((max(1, math.floor(16 * 0.06 ** (r / (len(base) - 1)))) for r in range(len(base))), reverse=True)
    assert sorted(counts.tolist(), reverse=True) == expected
    assert counts.max() == 16 and counts.min() == 1
    assert module.class_groups is not None and set(module.class_groups) == {"head", "medium", "tail"}


def test_batches_are_normalised_32px_images_and_rendering_is_deterministic():
    first = WorldDataModule(
        "blur", shots=2, image_settings=SETTINGS, train_pool_per_class=2, val_pool_per_class=1, test_per_class=2
    )
    second = WorldDataModule(
        "blur", shots=2, image_settings=SETTINGS, train_pool_per_class=2, val_pool_per_class=1, test_per_class=2
    )
    first.setup("test"), second.setup("test")
    images, labels = next(iter(first.test_dataloader()[0]))
    assert images.shape[1:] == (3, 32, 32) and labels.dtype == torch.long
    raw = torch.from_numpy(WorldDataset("blur").render_split("test", 2, seed=first.world_seed)[0][0]).float()
    expected = (raw.permute(2, 0, 1) / 255 - 0.5) / 0.25  # eval transform of 32 px = normalisation only
    assert torch.allclose(images[0], expected, atol=1e-5)
    assert torch.equal(images, next(iter(second.test_dataloader()[0]))[0])


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="choose one of"):
        WorldDataModule("paintings")
    with pytest.raises(ValueError, match="raise the pool size"):
        WorldDataModule("night", shots=64)
