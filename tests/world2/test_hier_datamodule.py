"""The hierarchical world's data module: the benchmarks' sampling rules, a long tail that follows families."""

import math

import numpy as np
import pytest
import torch

from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.data.world import attribute_popularity_ranks
from cpt_lightning.data.world2 import HierWorldDataModule
from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.world.hier import HierWorldDataset

SETTINGS = ImageSettings(crop_size=32, resize_shortest_edge=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_classes_follow_the_base_to_new_rule_and_the_tail_follows_the_profile():
    module = HierWorldDataModule("night", shots=16, tau=0.06, seed=3, image_settings=SETTINGS)
    names = HierWorldDataset("night").classnames
    base, new = base_new_split(len(names))
    assert module.classnames == [names[k] for k in base] == module.eval_classnames["base"]
    assert module.eval_classnames["new"] == [names[k] for k in new]
    counts = module.per_class_counts()
    expected = sorted((max(1, math.floor(16 * 0.06 ** (r / (len(base) - 1)))) for r in range(len(base))), reverse=True)
    assert sorted(counts, reverse=True) == expected
    assert module.class_groups.count("tail") == 42 and module.dataset_name == "world2-night"


def test_popularity_ranks_follow_the_four_family_levels():
    module = HierWorldDataModule("blur", tau=0.25, seed=5, image_settings=SETTINGS)
    codes = module.popularity_codes()[module.train_labels]
    world = HierWorldDataset("blur")
    np.testing.assert_array_equal(codes[:, 0], world.class_codes[module.train_labels, 0])
    np.testing.assert_array_equal(codes[:, 1], world.class_codes[module.train_labels, 1] % 4)
    assert module._ranks() == attribute_popularity_ranks(codes, 5)
    # a family's popularity moves its members together: colour families differ in mean rank
    ranks = np.array(module._ranks())
    family_means = [ranks[codes[:, 0] == f].mean() for f in range(4)]
    assert max(family_means) - min(family_means) > 20


def test_an_unknown_dataset_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="sketches"):
        HierWorldDataModule("sepia")


def test_batches_are_rendered_images_of_the_base_classes():
    module = HierWorldDataModule(
        "clutter", shots=1, image_settings=SETTINGS, train_pool_per_class=1, val_pool_per_class=1, test_per_class=1
    )
    module.setup("fit")
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape[1:] == (3, 32, 32) and labels.dtype == torch.long
    assert len(module.train_items) == 128 and max(label for _, label in module.train_items) == 127
