"""configs/demo.yaml runs end to end (one epoch here; `make demo` runs the full ten) and prints its summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpt_lightning.cli import main

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_demo_fit_then_test_prints_base_new_hm_and_groups(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the demo writes under ./outputs/demo
    short = ["--config", str(DEMO), "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]
    main(["fit", *short])
    checkpoint = tmp_path / "outputs" / "demo" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    tested = main(["test", *short, "--ckpt_path", str(checkpoint)])
    summary = capsys.readouterr().out
    assert "Test accuracy:" in summary
    for line_start in ("  base ", "    head ", "    medium ", "    tail ", "  new ", "  HM "):
        assert any(line.startswith(line_start) for line in summary.splitlines()), line_start
    assert "head / medium / tail: the training classes grouped by" in summary
    scalars = tested.model.eval_results["test"].scalars
    assert {"test/base/acc", "test/new/acc", "test/hm", "test/base/acc_head", "test/base/acc_tail"} <= set(scalars)
