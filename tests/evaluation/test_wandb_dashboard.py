"""`cpt fit` + `cpt test` with an offline W&B logger leave runs holding every evaluation key and the media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cpt_lightning.callbacks.wandb_dashboard import cluster_order, prototype_gram
from cpt_lightning.cli import main
from cpt_lightning.metrics.class_accuracy import harmonic_mean

from .wandb_offline import history, summary

pytestmark = pytest.mark.slow

WANDB_PRESET = Path(__file__).resolve().parents[2] / "configs" / "eval" / "wandb.yaml"
CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish", "tabby", "tiger"]
GROUPS = ["head", "medium", "tail", "tail"]


def _config(tiny_clip_dir: Path, root: Path) -> dict:
    return {
        "seed_everything": 3,
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "default_root_dir": str(root),
            "callbacks": [
                {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True}}
            ],
        },
        "model": {"clip_name_or_path": str(tiny_clip_dir)},
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {
                "classnames": CLASSNAMES,
                "subsample": "base_to_new",
                "class_groups": GROUPS,
                "train_per_class": 2,
                "eval_per_class": 2,
                "batch_size": 8,
            },
        },
    }


def _run_dir(wandb_dir: Path, before: set[Path]) -> Path:
    runs = set(wandb_dir.glob("wandb/offline-run-*")) - before
    assert len(runs) == 1, f"expected one new offline run under {wandb_dir}, found {sorted(runs)}"
    return runs.pop()


def _check_stage(run_dir: Path, stage: str) -> None:
    """History has every evaluation key; summaries are best-so-far; the table and Gram image exist."""
    records = next(run_dir.glob("run-*.wandb"))
    rows = history(records)
    logged = {key: row[key] for row in rows for key in row}
    for key in ("base/acc", "new/acc", "hm", "base/acc_head", "base/acc_medium", "base/acc_tail"):
        assert 0.0 <= logged[f"{stage}/{key}"] <= 1.0, key
    base, new = logged[f"{stage}/base/acc"], logged[f"{stage}/new/acc"]
    assert logged[f"{stage}/hm"] == pytest.approx(harmonic_mean(base, new))

    final = summary(records)
    assert final[f"{stage}/hm"] == {"max": logged[f"{stage}/hm"]}  # define_metric(summary="max"), one epoch
    assert set(final[f"{stage}/base/loss"]) == {"min"}

    table = logged[f"{stage}/per_class_accuracy"]
    assert table["_type"] == "table-file"
    content = json.loads((run_dir / "files" / table["path"]).read_text())
    assert content["columns"] == ["set", "class_index", "class", "group", "samples", "accuracy"]
    assert [row[2] for row in content["data"]] == CLASSNAMES  # base classes, then the new ones
    assert [row[3] for row in content["data"]] == GROUPS + ["", "", "", ""]
    assert all(row[4] == 2 for row in content["data"])
    accuracies = [row[5] for row in content["data"]]
    assert sum(accuracies[:4]) / 4 == pytest.approx(base)  # 2 images per class: macro == micro

    gram = logged[f"{stage}/prototype_gram"]
    assert gram["_type"] == "images/separated"
    assert (run_dir / "files" / gram["filenames"][0]).is_file()


def test_fit_and_test_leave_offline_wandb_runs_with_keys_table_and_gram(tiny_clip_dir, tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_config(tiny_clip_dir, tmp_path)))

    preset = ["--config", str(WANDB_PRESET), "--config", str(config), f"--trainer.logger.init_args.save_dir={tmp_path}"]
    main(["fit", *preset])
    # As a process exit would: finish the run (a later `cpt test` starts a new one) and stop the W&B
    # service, which closes the run's transaction log (finish alone may leave it unflushed).
    wandb.finish()
    wandb.teardown()
    fit_run = _run_dir(tmp_path, set())
    _check_stage(fit_run, "val")

    last = next(tmp_path.rglob("last.ckpt"))
    main(["test", *preset, "--ckpt_path", str(last)])
    wandb.finish()
    wandb.teardown()
    _check_stage(_run_dir(tmp_path, {fit_run}), "test")


def test_gram_is_ordered_by_cluster_with_boundaries():
    features = torch.nn.functional.normalize(torch.randn(5, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    order, boundaries = cluster_order(torch.tensor([2, 0, 2, 1, 0]), 5)
    assert order.tolist() == [1, 4, 3, 0, 2] and boundaries == [2, 3]
    gram = prototype_gram(features, order)
    assert gram[0, 3] == pytest.approx((features[1] @ features[0]).item(), abs=1e-6)
    assert np.allclose(np.diag(gram), 1.0, atol=1e-6)
    unclustered, none = cluster_order(torch.empty(0, dtype=torch.long), 5)
    assert unclustered.tolist() == [0, 1, 2, 3, 4] and none == []


def test_disabled_wandb_and_csv_fallback_run_without_errors(tiny_clip_dir, tmp_path, monkeypatch):
    from lightning.pytorch import Trainer
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from cpt_lightning.callbacks.wandb_dashboard import WandbDashboard
    from cpt_lightning.data.generated import GeneratedDataModule
    from cpt_lightning.models import CPTModule

    monkeypatch.setenv("WANDB_MODE", "disabled")
    data = GeneratedDataModule(CLASSNAMES, eval_per_class=1, subsample="base_to_new", class_groups=GROUPS)
    module = CPTModule(data.classnames, clip_name_or_path=str(tiny_clip_dir), prompt_learner=None, class_groups=GROUPS)
    csv = CSVLogger(tmp_path)
    trainer = Trainer(
        accelerator="cpu",
        logger=[csv, WandbLogger(save_dir=str(tmp_path), mode="disabled")],
        callbacks=[WandbDashboard()],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.test(module, data)
    header = (Path(csv.log_dir) / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"test/base/acc", "test/new/acc", "test/hm", "test/base/acc_tail"} <= set(header)
