"""Training-step values reach the logger on exactly Lightning's `log_every_n_steps` schedule."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger

from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.models import CPTModule

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "dog", "sea lion", "shark"]


def test_logged_rows_follow_log_every_n_steps_and_accuracy_is_logged_once_per_epoch(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
    data = GeneratedDataModule(CLASSNAMES, train_per_class=4, batch_size=4)  # 4 steps per epoch
    logger = CSVLogger(tmp_path)
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        log_every_n_steps=3,
        logger=logger,
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(module, data)

    with open(Path(logger.log_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    loss_steps = [int(row["step"]) for row in rows if row.get("train/loss")]
    assert loss_steps == [step for step in range(8) if (step + 1) % 3 == 0]  # Lightning's own schedule
    assert all(row.get("train/loss_ce") for row in rows if row.get("train/loss"))
    accuracies = [float(row["train/acc"]) for row in rows if row.get("train/acc")]
    assert len(accuracies) == 2 and all(0.0 <= acc <= 1.0 for acc in accuracies)
    assert trainer.callback_metrics["train/loss"].isfinite()
