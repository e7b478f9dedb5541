"""W&B (offline): a fit's checkpoints become artifacts; `cpt test` of one logs into the fit's run at its step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from cpt_lightning.cli import main
from cpt_lightning.loggers import WANDB_RUN_KEY

from .test_wandb_dashboard import WANDB_PRESET, _config
from .wandb_offline import history, read_records

pytestmark = pytest.mark.slow


def _records(run_dir: Path):
    return read_records(next(run_dir.glob("run-*.wandb")))


def test_checkpoint_artifacts_and_a_test_in_the_fits_run(tiny_clip_dir, tmp_path, monkeypatch):
    import wandb

    import cpt_lightning.callbacks.wandb_dashboard as dashboard

    # A run or settings an earlier test in this process left behind (a disabled run) would be reused.
    wandb.finish()
    wandb.teardown()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_config(tiny_clip_dir, tmp_path)))
    preset = ["--config", str(WANDB_PRESET), "--config", str(config), f"--trainer.logger.init_args.save_dir={tmp_path}"]
    main(["fit", *preset, "--trainer.max_epochs", "2"])
    wandb.finish()
    wandb.teardown()
    (fit_run,) = tmp_path.glob("wandb/offline-run-*")
    artifacts = [r.artifact for r in _records(fit_run) if r.WhichOneof("record_type") == "artifact"]
    models = [artifact for artifact in artifacts if artifact.type == "model"]
    assert models and all(f.path.endswith(".ckpt") for a in models for f in a.manifest.contents)

    last = next(tmp_path.rglob("last.ckpt"))
    state = torch.load(last, weights_only=True)
    fit_id, fit_step = state[WANDB_RUN_KEY]["id"], state["global_step"]
    assert fit_run.name.endswith(fit_id) and fit_step > 0

    titles = []
    original = dashboard.gram_heatmap
    monkeypatch.setattr(dashboard, "gram_heatmap", lambda *a: titles.append(a[2]) or original(*a))
    main(["test", *preset, "--ckpt_path", str(last), "--trainer.logger.init_args.fit_checkpoint", str(last)])
    wandb.finish()
    wandb.teardown()
    (test_run,) = set(tmp_path.glob("wandb/offline-run-*")) - {fit_run}
    assert test_run.name.endswith(fit_id)  # the same W&B run, resumed
    assert titles == [f"test prototype Gram, step {fit_step} (ordered by cluster)"]
    gram_rows = [row for row in history(next(test_run.glob("run-*.wandb"))) if "test/prototype_gram" in row]
    assert [row["trainer/global_step"] for row in gram_rows] == [fit_step]
