"""The pure sampling rules against the protocol's formulas and hand-computed cases."""

import math
import random

import numpy as np
import pytest

from cpt_lightning.data.sampling import (
    base_new_split,
    groups_by_count,
    groups_by_rank,
    imbalance_profile,
    imbalance_ranks,
    relabel,
    sample_per_class,
)


def test_base_new_split_of_eleven_labels_is_six_and_five_relabelled_from_zero():
    base, new = base_new_split(11)
    assert base == [0, 1, 2, 3, 4, 5] and new == [6, 7, 8, 9, 10]
    items = [(f"img{label}", label) for label in range(11)]
    assert [label for _, label in relabel(items, base)] == [0, 1, 2, 3, 4, 5]
    assert [label for _, label in relabel(items, new)] == [0, 1, 2, 3, 4]
    assert [key for key, _ in relabel(items, new)] == ["img6", "img7", "img8", "img9", "img10"]


@pytest.mark.parametrize("num_classes", [1, 2, 10, 47, 100, 1000])
def test_base_new_split_matches_coops_rule(num_classes):
    labels = sorted(range(num_classes))
    m = math.ceil(len(labels) / 2)
    assert base_new_split(num_classes) == (labels[:m], labels[m:])


def test_tau_006_over_50_classes_gives_16_for_the_head_and_1_for_the_tail():
    ranks = imbalance_ranks(50, seed=1)
    counts = imbalance_profile(ranks, shots=16, tau=0.06)
    head, tail = ranks.index(0), ranks.index(49)
    assert counts[head] == 16 and counts[tail] == 1
    for k, rank in enumerate(ranks):
        assert counts[k] == max(1, math.floor(16 * 0.06 ** (rank / 49)))


def test_ranks_are_a_seeded_permutation_and_tau_one_is_balanced():
    assert sorted(imbalance_ranks(30, seed=2)) == list(range(30))
    assert imbalance_ranks(30, seed=2) == imbalance_ranks(30, seed=2)
    assert imbalance_ranks(30, seed=2) != imbalance_ranks(30, seed=3)
    assert imbalance_profile(imbalance_ranks(30, 2), shots=16, tau=1.0) == [16] * 30


@pytest.mark.parametrize("tau", [0.0, -0.5, 1.01, 2.0])
def test_tau_outside_unit_interval_is_rejected(tau):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        imbalance_profile([0, 1, 2], shots=16, tau=tau)


def test_groups_are_thirds_by_rank_and_long_tail_thresholds():
    ranks = imbalance_ranks(50, seed=0)
    groups = groups_by_rank(ranks)
    assert [groups.count(g) for g in ("head", "medium", "tail")] == [17, 17, 16]
    counts = imbalance_profile(ranks, 16, 0.06)
    # every head class has at least as many shots as every tail class
    head = [c for c, g in zip(counts, groups, strict=True) if g == "head"]
    tail = [c for c, g in zip(counts, groups, strict=True) if g == "tail"]
    assert min(head) >= max(tail)
    assert groups_by_count([101, 100, 20, 19, 5]) == ["head", "medium", "medium", "tail", "tail"]


def test_sampling_is_seeded_locally_and_nested_across_tau(caplog):
    items = [(f"c{label}/{i}.jpg", label) for label in range(4) for i in range(10)]
    random.seed(0)
    np.random.seed(0)
    first = sample_per_class(items, [3] * 4, seed=1)
    random.seed(123)  # the global RNGs must not matter
    np.random.seed(123)
    assert sample_per_class(items, [3] * 4, seed=1) == first
    assert sample_per_class(items, [3] * 4, seed=2) != first
    assert sample_per_class(list(reversed(items)), [3] * 4, seed=1) == first
    assert [label for _, label in first] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    imbalanced = sample_per_class(items, [3, 2, 1, 1], seed=1)
    assert set(imbalanced) <= set(first)
    assert [label for _, label in imbalanced] == [0, 0, 0, 1, 1, 2, 3]


def test_more_shots_than_images_uses_all_and_warns(caplog):
    items = [("a0", 0), ("a1", 0), ("b0", 1), ("b1", 1), ("b2", 1), ("b3", 1)]
    chosen = sample_per_class(items, [3, 3], seed=0, classnames=["alpha", "beta"])
    assert sorted(k for k, y in chosen if y == 0) == ["a0", "a1"]
    assert len([k for k, y in chosen if y == 1]) == 3
    assert "alpha (2)" in caplog.text
