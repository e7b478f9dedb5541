"""Per-class, per-group accuracy and the harmonic mean against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from cpt_lightning.metrics.class_accuracy import (
    GroupAccuracy,
    PerClassAccuracy,
    group_accuracy,
    group_accuracy_from_counts,
    harmonic_mean,
    per_class_accuracy,
)

# 5 classes; classes 3 (medium) and 4 (the only tail class) have no samples.
GROUPS = ["head", "head", "medium", "medium", "tail"]
TARGET = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
PREDS = torch.tensor([0, 1, 0, 1, 0, 2, 2, 0, 2])
# By hand: class 0: 2/3, class 1: 1/2, class 2: 3/4, classes 3 and 4: no samples.
HEAD = (2 / 3 + 1 / 2) / 2
MEDIUM = 3 / 4  # class 3 has no samples, so it is not averaged in as 0


def test_per_class_accuracy_by_hand():
    accuracy = per_class_accuracy(PREDS, TARGET, num_classes=5)
    assert accuracy[:3].tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4])
    assert torch.isnan(accuracy[3:]).all()  # missing classes are marked, not scored 0


def test_group_accuracy_by_hand_with_an_empty_group():
    groups = group_accuracy(PREDS, TARGET, GROUPS)
    assert list(groups) == ["head", "medium"]  # "tail" has no samples: absent, not 0, not NaN
    assert groups["head"].item() == pytest.approx(HEAD)
    assert groups["medium"].item() == pytest.approx(MEDIUM)


def test_scores_and_labels_give_the_same_counts():
    scores = torch.nn.functional.one_hot(PREDS, 5).float() + 0.01 * torch.arange(5)
    from_scores = per_class_accuracy(scores, TARGET, 5).nan_to_num(-1)
    assert torch.equal(from_scores, per_class_accuracy(PREDS, TARGET, 5).nan_to_num(-1))


def test_metrics_accumulate_batches_like_one_update():
    per_class, grouped = PerClassAccuracy(5), GroupAccuracy(GROUPS)
    for chunk in (slice(0, 4), slice(4, 9)):
        per_class.update(PREDS[chunk], TARGET[chunk])
        grouped.update(PREDS[chunk], TARGET[chunk])
    assert per_class.total.tolist() == [3, 2, 4, 0, 0]
    assert per_class.correct.tolist() == [2, 1, 3, 0, 0]
    assert per_class.compute()[:3].tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4])
    result = grouped.compute()
    assert set(result) == {"head", "medium"}
    assert result["head"].item() == pytest.approx(HEAD)
    assert result["medium"].item() == pytest.approx(MEDIUM)


def test_group_order_is_head_medium_tail_then_others():
    groups = ["tail", "few", "head", "medium"]
    result = group_accuracy(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3]), groups)
    assert list(result) == ["head", "medium", "tail", "few"]


def test_group_list_must_match_the_classes():
    with pytest.raises(ValueError, match="class_groups has 2 entries for 5 classes"):
        group_accuracy_from_counts(torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long), ["head", "tail"])


def test_harmonic_mean_by_hand():
    assert harmonic_mean(0.8, 0.6) == pytest.approx(2 * 0.8 * 0.6 / 1.4)
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(1.0, 0.0) == 0.0
    value = harmonic_mean(torch.tensor(0.8), torch.tensor(0.6))
    assert value.item() == pytest.approx(2 * 0.8 * 0.6 / 1.4)
    assert harmonic_mean(torch.tensor(0.0), torch.tensor(0.0)).item() == 0.0
    assert not math.isnan(harmonic_mean(torch.tensor(0.0), torch.tensor(0.0)).item())
