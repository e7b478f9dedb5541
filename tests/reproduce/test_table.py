"""The table keys transfer results by source -> target and averages each column over the datasets that have it."""

from __future__ import annotations

import pytest

from cpt_lightning.metrics.class_accuracy import harmonic_mean
from cpt_lightning.reproduce.table import markdown, summarise


def _result(dataset: str, tests: dict[str, dict[str, float]], seed: int = 1, method: str = "cpt") -> dict:
    return {"spec": {"setting": "default", "dataset": dataset, "method": method, "seed": seed}, "tests": tests}


B2N = {"test/base/acc": 0.8, "test/new/acc": 0.6, "test/hm": harmonic_mean(0.8, 0.6)}


def _rows(results):
    return {(row.dataset, row.method): row for row in summarise(results)}


def test_two_sources_tested_on_one_target_stay_two_rows():
    rows = _rows([
        _result("dtd", {"dtd": {"test/acc": 0.5}, "oxford_pets": {"test/acc": 0.25}}),
        _result("eurosat", {"eurosat": {"test/acc": 0.75}, "oxford_pets": {"test/acc": 0.125}}),
    ])  # fmt: skip
    assert rows[("dtd -> oxford_pets", "cpt")].mean == {"acc": 25.0}
    assert rows[("eurosat -> oxford_pets", "cpt")].mean == {"acc": 12.5}
    assert ("oxford_pets", "cpt") not in rows
    assert rows[("average", "cpt")].mean == {"acc": pytest.approx(62.5)}  # dtd and eurosat themselves
    assert rows[("average (transfer)", "cpt")].mean == {"acc": pytest.approx(18.75)}


def test_average_columns_cover_the_datasets_that_have_them_and_say_so():
    rows = _rows([
        _result("imagenet", {"imagenet": B2N}),
        _result("caltech101", {"caltech101": {"test/base/acc": 0.9, "test/new/acc": 0.7}}),
        _result("dtd", {"dtd": {"test/acc": 0.4}}),
    ])  # fmt: skip
    average = rows[("average", "cpt")]
    assert average.mean["base"] == pytest.approx(85.0) and average.mean["new"] == pytest.approx(65.0)
    assert average.mean["HM"] == pytest.approx(harmonic_mean(85.0, 65.0))
    assert average.mean["acc"] == pytest.approx(40.0)  # the one dataset that has acc
    assert average.datasets_per_column == {"acc": 1, "base": 2, "new": 2, "HM": 2}
    table = markdown(summarise([_result("imagenet", {"imagenet": B2N}), _result("dtd", {"dtd": {"test/acc": 0.4}})]))
    assert "mean over the datasets that have it" in table and "acc 1, base 1, new 1, HM 1" in table
