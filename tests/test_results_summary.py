"""The test summary shows each set's accuracy, its head / medium / tail groups, and HM, as percentages."""

from cpt_lightning.callbacks.results_summary import format_test_summary


def test_summary_of_a_base_to_new_run():
    scalars = {
        "test/base/acc": 0.5, "test/base/acc_head": 0.75, "test/base/acc_medium": 0.5, "test/base/acc_tail": 0.25,
        "test/new/acc": 0.25, "test/hm": 2 * 0.5 * 0.25 / 0.75, "test/base/loss": 1.0,
    }  # fmt: skip
    text = format_test_summary(scalars, {"base": 6, "new": 5})
    assert text.splitlines() == [
        "Test accuracy:",
        "  base    50.0%  over 6 classes  (head 75.0 | medium 50.0 | tail 25.0)",
        "  new     25.0%  over 5 classes",
        "  HM      33.3%",
    ]


def test_summary_of_a_single_set_without_groups():
    assert format_test_summary({"test/acc": 0.123}, {"all": 3}).splitlines()[1] == "  all     12.3%  over 3 classes"
