"""`cpt predict` under 2 DDP processes (gloo, CPU) writes the rows of 1 process: one gathered file."""

from __future__ import annotations

import pytest

from cpt_lightning.callbacks.prediction_writer import read_predictions
from tests.conftest import cpt_in_process

from .test_ddp_cli import _config, _cpt

pytestmark = pytest.mark.slow


def test_two_process_predictions_equal_one_process(tiny_clip_dir, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.csv"
    config = _config(tmp_path / "run.yaml", tiny_clip_dir, tmp_path / "run")
    cpt_in_process("predict", "--config", str(config), "--predictions.path", str(one), "--predictions.top_k", "3")
    ddp = ["--trainer.devices", "2", "--trainer.strategy", "ddp"]
    _cpt("predict", "--config", str(config), "--predictions.path", str(two), "--predictions.top_k", "3", *ddp)
    single, distributed = read_predictions(one), read_predictions(two)
    assert len(single) == 70  # 5 base + 5 new classes, 7 test images each: every image once, none padded
    assert [row["set"] for row in single][:35] == ["base"] * 35
    for mine, theirs in zip(single, distributed, strict=True):
        assert {k: mine[k] for k in ("path", "set", "label", "classes")} == {
            k: theirs[k] for k in ("path", "set", "label", "classes")
        }
        # Another batch composition on each rank: the same logits up to float rounding.
        assert theirs["probabilities"] == pytest.approx(mine["probabilities"], abs=1e-6)
