"""The method presets in configs/methods run through `cpt` and log the CPT terms and the geometry."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import LightningDataModule
from threadpoolctl import threadpool_limits

from cpt_lightning.callbacks import cluster_assignment
from cpt_lightning.cli import CPTLightningCLI, main
from cpt_lightning.losses import (
    ClassConvergenceTerm,
    CrossEntropyTerm,
    EtfSeparationTerm,
    KgCoOpAnchorTerm,
    LogitAdjustedCrossEntropyTerm,
    RotationStabilizationTerm,
)
from cpt_lightning.models import CPTModule

pytestmark = pytest.mark.model

METHODS = Path(__file__).resolve().parents[1] / "configs" / "methods"
CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish", "tabby", "tiger"]
GEOMETRY_KEYS = [
    "val/nc1",
    "val/etf_deviation_global_centred",
    "val/etf_deviation_cluster",
    "val/intra_cluster_cosine_mean",
    "val/intra_cluster_cosine_std",
]


def run_config(tmp_path: Path, clip_dir: Path) -> Path:
    config = {
        "model": {"clip_name_or_path": str(clip_dir)},
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {"classnames": CLASSNAMES, "train_per_class": 2, "eval_per_class": 1, "batch_size": 8},
        },
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": 1,
            "log_every_n_steps": 1,
            "num_sanity_val_steps": 0,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(tmp_path),
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path)}},
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def build_only(preset: Path, run: Path) -> CPTLightningCLI:
    args = ["--config", str(run), "--config", str(preset)]
    return CPTLightningCLI(CPTModule, LightningDataModule, subclass_mode_data=True, args=args, run=False)


def logged_columns(log_dir: str) -> dict[str, list[float]]:
    with open(Path(log_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows if row[key] != ""] for key in rows[0]}


@pytest.mark.parametrize(
    ("preset", "expected_terms"),
    [
        ("coop.yaml", [CrossEntropyTerm]),
        ("kgcoop.yaml", [CrossEntropyTerm, KgCoOpAnchorTerm]),
        ("npt.yaml", [CrossEntropyTerm, EtfSeparationTerm]),
        ("cpt.yaml", [CrossEntropyTerm, EtfSeparationTerm, ClassConvergenceTerm, RotationStabilizationTerm]),
        ("coop_la.yaml", [LogitAdjustedCrossEntropyTerm]),
        (
            "cpt_la.yaml",
            [LogitAdjustedCrossEntropyTerm, EtfSeparationTerm, ClassConvergenceTerm, RotationStabilizationTerm],
        ),
    ],
)
def test_presets_build_the_documented_objective(preset, expected_terms, tiny_clip_dir, tmp_path):
    cli = build_only(METHODS / preset, run_config(tmp_path, tiny_clip_dir))
    assert [type(term) for term in cli.model.loss.terms.values()] == expected_terms


def test_cli_links_the_training_class_counts_for_logit_adjustment(tiny_clip_dir, tmp_path):
    cli = build_only(METHODS / "coop_la.yaml", run_config(tmp_path, tiny_clip_dir))
    # GeneratedDataModule trains on train_per_class=2 images of each of the 8 classes (run_config).
    assert cli.model.class_counts.tolist() == [2.0] * len(CLASSNAMES)


def test_logit_adjustment_without_class_counts_fails_before_training(tiny_clip_dir):
    with pytest.raises(ValueError, match="class_counts` is None"):
        CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), loss_terms=[LogitAdjustedCrossEntropyTerm()])
    with pytest.raises(ValueError, match="one positive training count per class"):
        CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), class_counts=[1] * (len(CLASSNAMES) - 1))


def test_zeroshot_preset_has_no_prompt_learner(tiny_clip_dir, tmp_path):
    cli = build_only(METHODS / "zeroshot.yaml", run_config(tmp_path, tiny_clip_dir))
    assert cli.model.prompt_learner is None


def test_cpt_fit_logs_terms_and_geometry_and_test_reuses_the_stored_assignment(tiny_clip_dir, tmp_path, monkeypatch):
    configs = ["--config", str(run_config(tmp_path, tiny_clip_dir)), "--config", str(METHODS / "cpt.yaml")]
    with threadpool_limits(1):
        fitted = main(["fit", *configs])
    logged = logged_columns(fitted.trainer.logger.log_dir)
    for key in ["train/loss_ce", "train/loss_etf", "train/loss_conv", "train/loss_rot", *GEOMETRY_KEYS]:
        assert logged.get(key), f"{key} was not logged; logged: {sorted(logged)}"
        assert all(math.isfinite(value) for value in logged[key]), key
    assignment = fitted.model.cluster_ids.clone()
    assert assignment.shape == (len(CLASSNAMES),)
    checkpoint = tmp_path / "cpt.ckpt"
    fitted.trainer.save_checkpoint(checkpoint)

    def must_not_recompute(*args, **kwargs):
        raise AssertionError("the cluster assignment was recomputed outside fit")

    monkeypatch.setattr(cluster_assignment, "assign_clusters", must_not_recompute)
    tested = main(["test", *configs, "--ckpt_path", str(checkpoint)])
    assert torch.equal(tested.model.cluster_ids, assignment)
    test_logged = logged_columns(tested.trainer.logger.log_dir)
    assert test_logged.get("test/etf_deviation_cluster"), sorted(test_logged)
