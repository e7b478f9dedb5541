"""The world data module applies the benchmarks' sampling rules to rendered images."""

from __future__ import annotations

import math

import pytest
import torch

from cpt_lightning.data.sampling import base_new_split, imbalance_ranks
from cpt_lightning.data.world import WorldDataModule, attribute_popularity_ranks
from cpt_lightning.image_settings import ImageSettings
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
    assert module.class_counts == counts.tolist()  # what the long-tail terms get is what training draws
    assert module.class_groups is not None and set(module.class_groups) == {"head", "medium", "tail"}


def test_batches_are_normalised_32px_images_and_rendering_is_deterministic():
    # "night": its style draws sensor noise, so the determinism covers the style's draws too (blur draws
    # none, and is the slowest style to render; test_generator renders it).
    first = WorldDataModule(
        "night", shots=2, image_settings=SETTINGS, train_pool_per_class=2, val_pool_per_class=1, test_per_class=2
    )
    second = WorldDataModule(
        "night", shots=2, image_settings=SETTINGS, train_pool_per_class=2, val_pool_per_class=1, test_per_class=2
    )
    first.setup("test"), second.setup("test")
    images, labels = next(iter(first.test_dataloader()[0]))
    assert images.shape[1:] == (3, 32, 32) and labels.dtype == torch.long
    raw = torch.from_numpy(WorldDataset("night").render_split("test", 2, seed=first.world_seed)[0][0]).float()
    expected = (raw.permute(2, 0, 1) / 255 - 0.5) / 0.25  # eval transform of 32 px = normalisation only
    assert torch.allclose(images[0], expected, atol=1e-5)
    assert torch.equal(images, next(iter(second.test_dataloader()[0]))[0])


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="choose one of"):
        WorldDataModule("paintings")
    with pytest.raises(ValueError, match="raise the pool size"):
        WorldDataModule("night", shots=64)


def _value_orders_from_ranks(class_codes, ranks):
    """Recover each attribute's value popularity from the ranks alone: in a full grid of combinations,
    a value's mean class rank orders it exactly as its popularity rank does (the other attributes
    average out equally over every value)."""
    orders = []
    for column in class_codes.T:
        mean_rank = {v: sum(r for r, c in zip(ranks, column, strict=True) if c == v) for v in set(column.tolist())}
        orders.append({v: i for i, v in enumerate(sorted(mean_rank, key=mean_rank.get))})
    return orders


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_attribute_popularity_ranks_sort_classes_by_the_sum_of_their_values_popularity(seed):
    codes = WorldDataset("night").class_codes[:32]  # the base classes: 4 colours x 8 shapes, a full grid
    ranks = attribute_popularity_ranks(codes, seed)
    assert sorted(ranks) == list(range(32))
    orders = _value_orders_from_ranks(codes, ranks)
    key = [sum(order[v] for order, v in zip(orders, row, strict=True)) for row in codes.tolist()]
    by_rank = [key[k] for k in sorted(range(32), key=ranks.__getitem__)]
    assert by_rank == sorted(by_rank)  # the head is the popular colours x shapes, the tail the rest
    assert ranks == attribute_popularity_ranks(codes, seed)  # deterministic by seed
    assert ranks != attribute_popularity_ranks(codes, seed + 10)


def test_popularity_attributes_gives_the_most_popular_class_the_most_shots_and_random_keeps_the_benchmark_rule():
    kwargs = dict(shots=16, tau=0.06, seed=3, image_settings=SETTINGS, train_pool_per_class=16)
    by_attributes = WorldDataModule("sketches", popularity="attributes", **kwargs)
    at_random = WorldDataModule("sketches", popularity="random", **kwargs)
    codes = WorldDataset("sketches").class_codes[by_attributes.train_labels]
    ranks = attribute_popularity_ranks(codes, 3)
    assert by_attributes._ranks() == ranks
    orders = _value_orders_from_ranks(codes, ranks)
    most = next(k for k, (c, s) in enumerate(codes.tolist()) if orders[0][c] == 0 and orders[1][s] == 0)
    least = next(k for k, (c, s) in enumerate(codes.tolist()) if orders[0][c] == 3 and orders[1][s] == 7)
    counts, groups = by_attributes.per_class_counts(), by_attributes.class_groups
    assert (counts[most], groups[most]) == (16, "head") and (counts[least], groups[least]) == (1, "tail")
    assert at_random._ranks() == imbalance_ranks(32, 3)
    with pytest.raises(ValueError, match="'attributes' or 'random'"):
        WorldDataModule("sketches", popularity="zipf")
