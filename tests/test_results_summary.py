"""The summary shows each set's accuracy, its head / medium / tail groups, HM and the zero-shot column."""

import pytest

from cpt_lightning.callbacks.results_summary import GROUPS_EXPLAINED, format_summary

BASE_TO_NEW = {
    "test/base/acc": 0.5, "test/base/acc_head": 0.75, "test/base/acc_medium": 0.5, "test/base/acc_tail": 0.25,
    "test/new/acc": 0.25, "test/hm": 2 * 0.5 * 0.25 / 0.75, "test/base/loss": 1.0,
}  # fmt: skip


def test_summary_of_a_base_to_new_run_beside_zero_shot():
    zero_shot = {key: value / 2 for key, value in BASE_TO_NEW.items()}
    text = format_summary("test", BASE_TO_NEW, {"base": 6, "new": 5}, zero_shot)
    lines = text.splitlines()
    assert lines[0].split() == ["Test", "accuracy:", "tuned", "zero-shot"]
    assert [line.split() for line in lines[1:7]] == [
        ["base", "(6", "classes)", "50.0", "25.0"],
        ["head", "75.0", "37.5"],
        ["medium", "50.0", "25.0"],
        ["tail", "25.0", "12.5"],
        ["new", "(5", "classes)", "25.0", "12.5"],
        ["HM", "of", "base", "and", "new", "33.3", "16.7"],
    ]
    assert lines[7].startswith(GROUPS_EXPLAINED) and "New classes" in lines[7]


def test_summary_of_a_single_set_without_groups_or_zero_shot():
    lines = format_summary("val", {"val/acc": 0.123}, {"all": 3}).splitlines()
    assert lines[0].split() == ["Validation", "accuracy", "(last", "epoch):", "tuned"]
    assert lines[1].split() == ["all", "(3", "classes)", "12.3"]
    assert len(lines) == 2  # no groups, nothing to explain


@pytest.mark.parametrize("missing", ["test/new/acc", "test/hm"])
def test_a_value_a_column_lacks_is_left_blank(missing):
    zero_shot = {key: value for key, value in BASE_TO_NEW.items() if key != missing}
    row = next(line for line in format_summary("test", BASE_TO_NEW, {"base": 6, "new": 5}, zero_shot).splitlines()
               if ("new (" in line if missing == "test/new/acc" else "HM" in line))  # fmt: skip
    assert len(row.split()) == (4 if missing == "test/new/acc" else 6)  # the model's value only
