"""Paired per-seed differences and the claims' verdicts, on hand-set numbers with known statistics."""

from __future__ import annotations

import math

import pytest

from cpt_lightning.reproduce.claims import HELD, NOT_HELD, NOT_MEASURABLE, Claim, ablation_claims
from cpt_lightning.reproduce.paired import paired_difference


def _scores(table: dict[tuple[str, str, str], list[float]], column: str = "HM") -> dict:
    """(setting, dataset, method) -> per-seed values (seeds 1..n) as the runs' column dicts."""
    return {key: {seed: {column: v} for seed, v in enumerate(values, 1)} for key, values in table.items()}


def test_differences_average_the_shared_datasets_per_seed_and_give_the_textbook_statistics():
    # Dataset a: cpt - coop = 0 2 2 4 4; dataset b: 2 2 4 4 6; per seed the mean: 1 2 3 4 5.
    scores = _scores(
        {
            ("tau=0.06", "a", "cpt"): [50, 52, 52, 54, 54],
            ("tau=0.06", "a", "coop"): [50, 50, 50, 50, 50],
            ("tau=0.06", "b", "cpt"): [62, 62, 64, 64, 66],
            ("tau=0.06", "b", "coop"): [60, 60, 60, 60, 60],
            ("tau=0.06", "c", "cpt"): [99, 99, 99, 99, 99],  # coop never ran on c: not paired
        }
    )
    diff = paired_difference(scores, "tau=0.06", "HM", "cpt", "coop")
    assert diff.datasets == ["a", "b"] and diff.seeds == [1, 2, 3, 4, 5]
    assert diff.differences == pytest.approx([1, 2, 3, 4, 5])
    assert diff.mean == pytest.approx(3.0) and diff.std == pytest.approx(math.sqrt(2.5))
    assert diff.ahead == 5 and diff.exceeds_spread
    t, _ = diff.t_test()
    assert t == pytest.approx(3.0 / (math.sqrt(2.5) / math.sqrt(5)))
    w, p = diff.wilcoxon()
    assert w == 0.0 and p == pytest.approx(2 / 32)  # all five positive: exact two-sided p = 2 / 2^5


def test_a_mean_inside_the_seed_spread_is_not_clear_and_missing_runs_are_not_measurable():
    scores = _scores({("s", "a", "cpt"): [9, 13, 9, 13, 11], ("s", "a", "npt"): [10, 10, 10, 10, 10]})
    diff = paired_difference(scores, "s", "HM", "cpt", "npt")
    assert diff.mean == pytest.approx(1.0) and diff.std == pytest.approx(2.0) and diff.ahead == 3
    assert not diff.exceeds_spread
    assert Claim("x", [diff]).verdict == NOT_HELD
    missing = paired_difference(scores, "s", "HM", "cpt", "kgcoop")
    assert missing.seeds == [] and Claim("y", [missing]).verdict == NOT_MEASURABLE
    assert Claim("z", note="not recorded").verdict == NOT_MEASURABLE


def test_cluster_ablation_claims_pair_settings_of_the_same_method():
    values = {"S=16": [60, 61, 62], "S=32": [58, 58.5, 59], "S=global": [57, 58, 59],
              "agglomerative": [59, 62, 58], "random": [55, 61, 57]}  # fmt: skip
    scores = {}
    for setting, hm in values.items():
        for seed, value in enumerate(hm, 1):
            scores.setdefault((setting, "a", "cpt"), {})[seed] = {"HM": value, "tail": value - 10}
    smaller, cosine, variance = ablation_claims(scores, None)
    # S=16 - S=32: 2, 2.5, 3 (mean 2.5, std 0.5); S=16 - global: 3 3 3 (std 0): both clear, HM and tail.
    assert smaller.verdict == HELD
    # S=16 - agglomerative: 1, -1, 4 (mean 1.33 < std 2.52): not clear.
    assert cosine.verdict == NOT_HELD
    # HM std over seeds: cosine 1.0, agglomerative 2.08, random 3.06.
    assert variance.verdict == HELD and "S=16: 1.00" in variance.note
