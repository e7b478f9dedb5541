"""A short `cpt fit` of a run config, for a checkpoint to inspect when none is at hand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainedRun:
    """Where a finished fit left its last checkpoint, its saved config and its CSV log."""

    checkpoint: Path
    config: Path
    metrics_csv: Path


def train_demo_checkpoint(config: str | Path, work_dir: str | Path, max_epochs: int = 3) -> TrainedRun:
    """Run `cpt fit --config <config>` for `max_epochs`, validating after every epoch, into `work_dir`.

    The config's own logger and callbacks are replaced by a `CSVLogger` under `work_dir/csv` (so
    the logged metrics can be read back) and a `ModelCheckpoint` keeping only `last.ckpt`, both in
    one new `work_dir/csv/version_<N>/` per call; everything else (model, objective, data, seed) is
    the config's. With `configs/demo.yaml` and
    three epochs this takes well under a minute on a CPU.
    """
    from cpt_lightning.cli import main  # the CLI pulls in every data module; import only when training

    work_dir = Path(work_dir).expanduser().resolve()
    logger = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(work_dir), "name": "csv"},
    }
    checkpointing = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        # No dirpath: the checkpoint goes into the logger's version directory, beside config and CSV.
        "init_args": {"save_last": True, "save_top_k": 0},
    }
    cli = main(
        [
            "fit",
            "--config",
            str(config),
            f"--trainer.max_epochs={max_epochs}",
            "--trainer.check_val_every_n_epoch=1",
            "--trainer.enable_progress_bar=false",
            f"--trainer.logger={json.dumps(logger)}",
            f"--trainer.callbacks={json.dumps([checkpointing])}",
        ]
    )
    log_dir = Path(cli.trainer.log_dir)
    return TrainedRun(
        checkpoint=Path(cli.trainer.checkpoint_callback.last_model_path),
        config=log_dir / "config.yaml",
        metrics_csv=log_dir / "metrics.csv",
    )
