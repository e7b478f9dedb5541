"""Paired per-seed comparisons of two methods from finished runs: differences, seeds ahead, paired tests.

The unit is the seed: for each seed, a method's score is the mean over the datasets that both methods
ran with that seed (so a seed's sampling noise, shared by both methods, cancels in the difference).
The spread is the standard deviation of the per-seed differences (`ddof=1`); a difference is called
clear only when its mean exceeds that spread (`PairedDifference.exceeds_spread`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from scipy import stats

from cpt_lightning.reproduce.table import column_values

Scores = dict[tuple[str, str, str], dict[int, dict[str, float]]]  # (setting, dataset, method) -> seed -> column


def per_run_scores(results: list[dict[str, Any]]) -> Scores:
    """Every finished run's table columns (percent) by (setting, tested dataset, method) and seed."""
    scores: Scores = defaultdict(dict)
    for result in results:
        spec = result["spec"]
        for dataset, metrics in result["tests"].items():
            scores[(spec["setting"], dataset, spec["method"])][spec["seed"]] = column_values(metrics)
    return scores


@dataclass
class PairedDifference:
    """`method - baseline` on one column and setting, per seed, with its paired statistics."""

    setting: str
    column: str
    method: str
    baseline: str
    seeds: list[int]
    differences: list[float]
    datasets: list[str]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.differences) if self.differences else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.differences) if len(self.differences) >= 2 else math.nan

    @property
    def ahead(self) -> int:
        return sum(d > 0 for d in self.differences)

    @property
    def measurable(self) -> bool:
        return len(self.differences) >= 2

    @property
    def exceeds_spread(self) -> bool:
        """True when the mean difference is positive and larger than the seed spread of the differences."""
        return self.measurable and self.mean > 0 and self.mean > self.std

    def t_test(self) -> tuple[float, float]:
        """Paired t statistic and two-sided p: `ttest_1samp` of the differences against 0 (= `ttest_rel`)."""
        if not self.measurable or self.std == 0:
            return math.nan, math.nan
        result = stats.ttest_1samp(self.differences, 0.0)
        return float(result.statistic), float(result.pvalue)

    def wilcoxon(self) -> tuple[float, float]:
        """Wilcoxon signed-rank statistic and two-sided p; NaN when every difference is 0 or too few seeds."""
        if not self.measurable or all(d == 0 for d in self.differences):
            return math.nan, math.nan
        result = stats.wilcoxon(self.differences)
        return float(result.statistic), float(result.pvalue)


def paired_difference(
    scores: Scores, setting: str, column: str, method: str, baseline: str, datasets: list[str] | None = None
) -> PairedDifference:
    """Per seed: mean over shared datasets of `method - baseline` on `column` (seeds both ran everywhere)."""
    candidates = datasets or sorted({d for (s, d, m) in scores if s == setting and m in (method, baseline)})
    shared = [
        d for d in candidates if (setting, d, method) in scores and (setting, d, baseline) in scores
    ]  # fmt: skip
    seeds = None
    for dataset in shared:
        for name in (method, baseline):
            have = {seed for seed, values in scores[(setting, dataset, name)].items() if column in values}
            seeds = have if seeds is None else seeds & have
    seeds = sorted(seeds or [])
    differences = [
        statistics.fmean(
            scores[(setting, d, method)][seed][column] - scores[(setting, d, baseline)][seed][column] for d in shared
        )
        for seed in seeds
    ]
    return PairedDifference(setting, column, method, baseline, seeds, differences, shared)


def _number(value: float, digits: int = 2, signed: bool = True) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def difference_cells(diff: PairedDifference) -> list[str]:
    """Markdown cells: per-seed differences, mean +- std, seeds ahead, t (p), Wilcoxon W (p)."""
    t, t_p = diff.t_test()
    w, w_p = diff.wilcoxon()
    per_seed = " ".join(f"{seed}:{d:+.2f}" for seed, d in zip(diff.seeds, diff.differences, strict=True))
    return [
        per_seed or "not run",
        f"{_number(diff.mean)} ± {_number(diff.std, signed=False)}",
        f"{diff.ahead}/{len(diff.seeds)}",
        f"{_number(t)} ({_number(t_p, 3, signed=False)})",
        f"{_number(w, 1, signed=False)} ({_number(w_p, 3, signed=False)})",
    ]


PAIRED_HEADER = [
    "| setting | comparison | column | per-seed difference | mean ± std | seeds ahead "
    "| paired t (p) | Wilcoxon W (p) |",
    "|---|---|---|---|---|---|---|---|",
]


def paired_row(diff: PairedDifference) -> str:
    cells = [diff.setting, f"{diff.method} - {diff.baseline}", diff.column, *difference_cells(diff)]
    return "| " + " | ".join(cells) + " |"
