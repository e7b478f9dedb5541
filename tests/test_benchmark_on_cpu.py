"""A benchmark config runs on a CPU-only machine without a W&B login, in 32-bit, and ends with the summary,
whose zero-shot column is what a zero-shot `cpt test` of the same classes scores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.loggers import CSVLogger

from cpt_lightning.callbacks import ResultsSummary
from cpt_lightning.cli import main
from tests.data.miniatures import write_miniature

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a CPU-only machine gets"),
]

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _summary_rows(text: str) -> dict[str, list[float]]:
    """Row label -> its numbers, from the printed summary (label text before the first number)."""
    rows = {}
    for line in text.splitlines():
        numbers = re.findall(r"\s(\d+\.\d)(?=\s|$)", line)
        if line.startswith("  ") and numbers:
            rows[re.sub(r"(\s+\d+\.\d)+\s*$", "", line).strip()] = [float(n) for n in numbers]
    return rows


def test_dtd_b2n_fits_and_tests_on_a_cpu_with_the_zero_shot_column(tiny_clip_dir, tmp_path, monkeypatch, capsys):
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.chdir(tmp_path)
    run = ["--config", str(CONFIGS / "dtd_b2n.yaml"), *write_miniature("DTDDataModule", tmp_path / "dtd"),
           "--model.clip_name_or_path", str(tiny_clip_dir), "--data.init_args.num_workers", "0",
           "--data.init_args.tau", "0.5", "--trainer.enable_progress_bar", "false"]  # fmt: skip

    fit = main(["fit", *run, "--trainer.max_epochs", "2"])
    assert isinstance(fit.trainer.accelerator, CPUAccelerator)
    assert fit.trainer.precision == "32-true"
    assert isinstance(fit.trainer.logger, CSVLogger)  # no W&B login: CSV, not a crash
    fitted = capsys.readouterr().out
    assert "Validation accuracy (last epoch):" in fitted and "HM of base and new" in fitted

    checkpoint = fit.trainer.checkpoint_callback.last_model_path
    tested = main(["test", *run, "--ckpt_path", checkpoint])
    printed = capsys.readouterr().out
    summary = next(c for c in tested.trainer.callbacks if isinstance(c, ResultsSummary)).summary(tested.model, "test")
    assert summary in printed
    assert "head / medium / tail: the training classes grouped by" in summary

    zero_shot = main(["test", *run, "--config", str(CONFIGS / "methods" / "zeroshot.yaml")])
    truth = {key: float(value) for key, value in zero_shot.model.eval_results["test"].scalars.items()}
    capsys.readouterr()
    rows = _summary_rows(summary)
    expected = {
        "base (3 classes)": truth["test/base/acc"], "head": truth["test/base/acc_head"],
        "medium": truth["test/base/acc_medium"], "tail": truth["test/base/acc_tail"],
        "new (3 classes)": truth["test/new/acc"], "HM of base and new": truth["test/hm"],
    }  # fmt: skip
    for label, value in expected.items():
        tuned, zero_shot_column = rows[label]
        assert zero_shot_column == pytest.approx(round(100 * value, 1)), label
    tuned_scalars = tested.model.eval_results["test"].scalars
    assert rows["base (3 classes)"][0] == pytest.approx(round(100 * float(tuned_scalars["test/base/acc"]), 1))
