"""A run that used the feature cache loads for analysis, and its recomputed numbers are what it logged."""

from __future__ import annotations

import pytest
import torch
import yaml

from cpt_lightning.analysis import accuracy_as_logged, eval_features, load_checkpoint_run, read_logged_metrics
from cpt_lightning.cli import main
from cpt_lightning.data.generated import GeneratedDataModule

pytestmark = pytest.mark.slow

CLASSNAMES = ["cat", "dog", "sea lion", "fox"]


def test_a_feature_cache_run_loads_and_recomputes_its_logged_accuracy(tiny_clip_dir, tmp_path):
    config = {
        "seed_everything": 3,
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 2,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path)}},
            "callbacks": [
                {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True}}
            ],
        },
        "model": {"clip_name_or_path": str(tiny_clip_dir)},
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {
                "classnames": CLASSNAMES,
                "train_per_class": 2,
                "eval_per_class": 3,
                "batch_size": 4,
                "feature_cache": {"directory": str(tmp_path / "features")},
            },
        },
    }
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config))
    fit = main(["fit", "--config", str(config_file)])
    log_dir = tmp_path / "lightning_logs" / "version_0"
    assert list((tmp_path / "features").glob("*.pt")), "the run did not use the feature cache"

    run = load_checkpoint_run(fit.trainer.checkpoint_callback.last_model_path, log_dir / "config.yaml")
    tuned = eval_features(run.module, run.datamodule, "val")
    frozen = eval_features(run.module, run.datamodule, "val", frozen=True)

    # Truth: the frozen CLIP on the same images, without any cache.
    plain = GeneratedDataModule(CLASSNAMES, train_per_class=2, eval_per_class=3, batch_size=4)
    plain.setup("validate")
    pixels, labels = map(torch.cat, zip(*plain.val_dataloader(), strict=False))
    with torch.no_grad():
        expected = run.module.clip.encode_images(pixels)
    torch.testing.assert_close(tuned["all"].features, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(frozen["all"].features, expected, atol=1e-5, rtol=0)
    assert torch.equal(tuned["all"].labels, labels)

    logged = read_logged_metrics(log_dir / "metrics.csv")
    recomputed = accuracy_as_logged(run.module, tuned)
    assert recomputed["val/acc"] == pytest.approx(logged["val/acc"], abs=1e-6)
