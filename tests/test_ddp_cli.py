"""`cpt fit` and `cpt test` with 2 DDP processes on CPU (gloo) give the test metrics of 1 process."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import cpt_in_process

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish", "tabby", "tiger", "goose", "owl"]


def _config(path: Path, clip_dir: Path, root: Path) -> Path:
    config = {
        "seed_everything": 5,
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 2,
            "num_sanity_val_steps": 0,
            "limit_val_batches": 0,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root),
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(root)}},
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"dirpath": str(root / "checkpoints"), "save_last": True},
                }
            ],
        },
        "model": {"clip_name_or_path": str(clip_dir)},
        # 10 classes -> 5 base + 5 new, 7 test images each: 35 per set, odd, and not a multiple of 2 x 4.
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {
                "classnames": CLASSNAMES,
                "train_per_class": 4,
                "eval_per_class": 7,
                "batch_size": 4,
                "subsample": "base_to_new",
            },
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _cpt(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "cpt_lightning.cli", *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]


def _test_metrics(log_root: Path) -> dict[str, float]:
    (metrics_file,) = sorted(log_root.glob("lightning_logs/version_*/metrics.csv"))[-1:]
    rows = list(csv.DictReader(metrics_file.open()))
    return {key: float(value) for row in rows for key, value in row.items() if key.startswith("test/") and value}


def test_two_process_fit_and_test_match_one_process_test(tiny_clip_dir, tmp_path):
    ddp = ["--trainer.devices", "2", "--trainer.strategy", "ddp"]
    fit_config = _config(tmp_path / "fit.yaml", tiny_clip_dir, tmp_path / "fit")
    _cpt("fit", "--config", str(fit_config), "--config", str(REPO / "configs" / "methods" / "cpt.yaml"), *ddp)
    checkpoint = tmp_path / "fit" / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, weights_only=True)
    assert state["global_step"] > 0 and state["state_dict"]["cluster_ids"].numel() == len(CLASSNAMES) // 2

    one = _config(tmp_path / "one.yaml", tiny_clip_dir, tmp_path / "one")
    cpt_in_process("test", "--config", str(one), "--ckpt_path", str(checkpoint))
    two = _config(tmp_path / "two.yaml", tiny_clip_dir, tmp_path / "two")
    _cpt("test", "--config", str(two), "--ckpt_path", str(checkpoint), *ddp)

    single, distributed = _test_metrics(tmp_path / "one"), _test_metrics(tmp_path / "two")
    assert {"test/base/acc", "test/new/acc", "test/hm"} <= set(single)
    for key, value in single.items():
        if key.endswith(("/acc", "/hm")) or "acc_" in key:
            assert distributed[key] == value, key  # counts summed across ranks: exactly equal
        elif key.endswith("/loss"):
            assert distributed[key] == pytest.approx(value, rel=1e-6), key  # float sums in another order
