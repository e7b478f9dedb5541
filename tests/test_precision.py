"""Mixed-precision fits (bf16 and fp16 with loss scaling) keep every loss term finite."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import yaml

from cpt_lightning.cli import main

pytestmark = pytest.mark.slow

METHODS = Path(__file__).resolve().parents[1] / "configs" / "methods"
CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish", "tabby", "tiger"]


# Lightning maps precision="16-mixed" on CPU to bf16; the explicit plugin runs real fp16 autocast
# with a GradScaler on the CPU, which is what a GPU's 16-mixed does.
FP16_WITH_LOSS_SCALING = {
    "class_path": "lightning.pytorch.plugins.precision.MixedPrecision",
    "init_args": {
        "precision": "16-mixed",
        "device": "cpu",
        "scaler": {"class_path": "torch.amp.GradScaler", "init_args": {"device": "cpu"}},
    },
}


@pytest.mark.parametrize(("precision", "plugins"), [("bf16-mixed", None), (None, FP16_WITH_LOSS_SCALING)])
def test_mixed_precision_cpt_fit_has_finite_losses(precision, plugins, tiny_clip_dir, tmp_path):
    config = {
        "model": {"clip_name_or_path": str(tiny_clip_dir)},
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {"classnames": CLASSNAMES, "train_per_class": 4, "batch_size": 8},
        },
        "trainer": {
            "accelerator": "cpu",
            "precision": precision,
            "plugins": plugins,
            "max_epochs": 2,
            "log_every_n_steps": 1,
            "limit_val_batches": 0,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(tmp_path),
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path)}},
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = main(["fit", "--config", str(path), "--config", str(METHODS / "cpt.yaml")])
    with open(Path(cli.trainer.logger.log_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    for term in ("loss", "loss_ce", "loss_etf", "loss_conv", "loss_rot"):
        values = [float(row[f"train/{term}"]) for row in rows if row.get(f"train/{term}")]
        assert len(values) == 8, (term, values)
        assert all(math.isfinite(v) for v in values), (term, values)
    assert math.isfinite(cli.model.prompt_learner.ctx.float().abs().sum().item())
    plugin = cli.trainer.precision_plugin
    if plugins is not None:
        assert plugin.precision == "16-mixed" and plugin.scaler is not None and plugin.scaler.get_scale() > 0
        assert plugin.autocast_context_manager().fast_dtype == torch.float16
    else:
        assert plugin.precision == "bf16-mixed"
