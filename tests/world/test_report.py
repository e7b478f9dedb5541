"""The world report's checks and pretraining comparison are computed from run outputs, by hand-checked rules."""

from __future__ import annotations

import json

import pytest

from cpt_lightning.reproduce.table import Row
from cpt_lightning.tools.world_report import acceptance_checks, pretraining_reproduction


def _row(setting: str, dataset: str, method: str, **mean: float) -> Row:
    return Row(setting=setting, dataset=dataset, method=method, seeds=[1], mean=mean, std=dict.fromkeys(mean, 0.0))


def test_acceptance_checks_count_datasets_that_pass_each_bar():
    rows = [
        # "a": CoOp +6 on base (passes), head-tail 12 (passes); zero-shot's own gap 4, CoOp's tail 8 lower.
        _row("tau=1", "a", "coop", base=56.0),
        _row("tau=1", "a", "zeroshot", base=50.0),
        _row("tau=0.06", "a", "coop", head=70.0, tail=58.0),
        _row("tau=0.06", "a", "zeroshot", head=70.0, tail=66.0),
        # "b": CoOp +4.9 (fails), head-tail 9.9 (fails).
        _row("tau=1", "b", "coop", base=54.9),
        _row("tau=1", "b", "zeroshot", base=50.0),
        _row("tau=0.06", "b", "coop", head=60.0, tail=50.1),
        _row("tau=0.06", "b", "zeroshot", head=55.0, tail=55.0),
    ]
    lines = acceptance_checks(rows)
    assert "| a | +6.00 | +12.00 | +4.00 | -8.00 |" in lines
    assert "| b | +4.90 | +9.90 | +0.00 | -4.90 |" in lines
    assert any("(tau=1) on 1 of 2 datasets" in line for line in lines)
    assert any("(tau=0.06) on 1 of 2 datasets" in line for line in lines)


def _summary(folder, steps: int, scores: dict[str, tuple[float, float]]) -> None:
    folder.mkdir()
    per_dataset = {name: {"base": base, "new": new} for name, (base, new) in scores.items()}
    summary = {"steps": steps, "minutes": 1.0, "seed": 0, "batch_size": 128, "zero_shot_test_seed_12345": per_dataset}
    (folder / "pretraining_summary.json").write_text(json.dumps(summary))


def test_pretraining_reproduction_compares_the_mean_zero_shot_accuracy(tmp_path):
    _summary(tmp_path / "shipped", 10, {"x": (0.50, 0.40), "y": (0.70, 0.60)})  # mean 55.0
    _summary(tmp_path / "close", 10, {"x": (0.48, 0.41), "y": (0.66, 0.57)})  # mean 53.0: -2.0
    _summary(tmp_path / "far", 10, {"x": (0.45, 0.35), "y": (0.66, 0.54)})  # mean 50.0: -5.0
    close = pretraining_reproduction(tmp_path / "shipped", tmp_path / "close")
    assert "| x | 50.0 | 48.0 | 40.0 | 41.0 |" in close
    assert "shipped 55.00, reproduced 53.00, difference -2.00 points (within 3 points)" in close[-1]
    far = pretraining_reproduction(tmp_path / "shipped", tmp_path / "far")
    assert "difference -5.00 points (NOT within 3 points)" in far[-1]
    with pytest.raises(FileNotFoundError, match="pretrain_world_clip --out"):
        pretraining_reproduction(tmp_path / "shipped", tmp_path / "missing")


def test_pretraining_reproduction_says_whether_the_weights_are_bit_identical(tmp_path):
    for name, weights in (("shipped", b"abc"), ("same", b"abc"), ("other", b"abd")):
        _summary(tmp_path / name, 10, {"x": (0.5, 0.5)})
        (tmp_path / name / "model.safetensors").write_bytes(weights)
    assert "are bit-identical" in pretraining_reproduction(tmp_path / "shipped", tmp_path / "same")[-1]
    assert "are not bit-identical" in pretraining_reproduction(tmp_path / "shipped", tmp_path / "other")[-1]
