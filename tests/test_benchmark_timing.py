"""The benchmarks' interval for a median ratio: the binomial order-statistic rule, checked by hand and by coverage."""

from __future__ import annotations

import random
import sys

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from _timing import median_interval  # noqa: E402


def test_fifteen_repeats_give_the_fourth_and_twelfth_order_statistics():
    # n = 15: P(X <= 3) = 576 / 32768 = 0.018 <= 0.025 < P(X <= 4) = 0.059, so k = 4: x_(4) and x_(12).
    values = [float(v) for v in (9, 3, 14, 1, 7, 12, 5, 15, 2, 11, 6, 13, 4, 10, 8)]
    assert median_interval(values) == (4.0, 12.0)


def test_too_few_values_give_the_whole_range():
    # n = 5: even k = 1 has P(X < 1) = 1/32 = 0.031 > 0.025, so the range is all there is.
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)


def test_the_interval_covers_the_true_median_at_least_as_often_as_promised():
    rng = random.Random(0)
    trials, covered = 2000, 0
    for _ in range(trials):
        low, high = median_interval([rng.expovariate(1.0) for _ in range(15)])
        covered += low <= 0.6931471805599453 <= high  # the median of Exp(1) is ln 2
    assert covered / trials >= 0.95
