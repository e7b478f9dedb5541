"""A short, readable summary of a run's results, beside the zero-shot CLIP's on the same classes.

Printed at the end of `cpt test` (the test sets) and of a `cpt fit` that validated (the last
validation epoch): accuracy per evaluation set, head / medium / tail, and HM, with a second column
that scores the frozen CLIP's zero-shot classifier (the model's own templates) on the same images
and classes -- what `cpt test --model configs/methods/zeroshot.yaml` reports.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from cpt_lightning.metrics.evaluation import (
    compute_eval_results,
    eval_metric_collection,
    groups_for_set,
    update_eval_metrics,
)
from cpt_lightning.metrics.keys import ACCURACY, GROUP_ORDER, group_accuracy_metric, harmonic_mean_key, metric_key
from cpt_lightning.models.image_features import ImageFeatures

STAGE_TITLES = {"test": "Test accuracy:", "val": "Validation accuracy (last epoch):"}
GROUPS_EXPLAINED = (
    "head / medium / tail: the training classes grouped by how many training images each has (head: the most)."
)
NEW_NOT_GROUPED = " New classes have no training images, so they are not grouped."


def _percent(scalars: dict[str, float] | None, key: str) -> str:
    if scalars is None or key not in scalars or math.isnan(scalars[key]):
        return ""
    return f"{100 * scalars[key]:.1f}"


def format_summary(
    stage: str,
    scalars: dict[str, float],
    set_sizes: dict[str, int],
    zero_shot: dict[str, float] | None = None,
    model_label: str = "tuned",
) -> str:
    """The summary table from logged scalars (`<stage>/...` keys) and, optionally, the zero-shot ones."""
    columns = [scalars] if zero_shot is None else [scalars, zero_shot]
    header = f"{model_label:>7}" + ("  zero-shot" if zero_shot is not None else "")

    def row(label: str, key: str) -> str:
        widths = (7, 11)[: len(columns)]  # under "  tuned" and "  zero-shot"
        cells = "".join(f"{_percent(values, key):>{width}}" for values, width in zip(columns, widths, strict=True))
        return f"  {label:<28}{cells}"

    several = len(set_sizes) > 1
    lines = [f"{STAGE_TITLES.get(stage, stage + ' accuracy:'):<30}{header}"]
    grouped = False
    for set_name, size in set_sizes.items():
        accuracy = metric_key(stage, set_name, ACCURACY, several)
        if accuracy not in scalars:
            continue
        lines.append(row(f"{set_name} ({size} classes)", accuracy))
        for group in GROUP_ORDER:
            key = metric_key(stage, set_name, group_accuracy_metric(group), several)
            if key in scalars:
                grouped = True
                lines.append(row(f"  {group}", key))
    hm = harmonic_mean_key(stage)
    if hm in scalars and not math.isnan(scalars[hm]):
        lines.append(row("HM of base and new", hm))
    if grouped:
        lines.append(GROUPS_EXPLAINED + (NEW_NOT_GROUPED if "new" in set_sizes else ""))
    return "\n".join(lines)


class ResultsSummary(pl.Callback):
    """Prints `format_summary` after `cpt test` and after a `cpt fit` that validated (rank 0; a fit whose
    only validation was the sanity check prints nothing).

    `zero_shot=True` adds the frozen CLIP's zero-shot accuracy on the same evaluation images and
    classes. For a text-only host the evaluation's own image features are reused, so the column
    costs one matrix product per batch; a host that prompts the image tower (IVLP) pays one more
    pass of the frozen image tower. Zero-shot validation accuracy does not change during a fit, so
    it is computed in the first full validation epoch only. The CLI adds this callback unless
    `trainer.callbacks` has one.
    """

    def __init__(self, zero_shot: bool = True) -> None:
        self.zero_shot = zero_shot
        self._metrics: nn.ModuleDict | None = None
        self._text_features: dict[str, torch.Tensor] = {}
        self._zero_shot_scalars: dict[str, dict[str, float]] = {}
        self._validated = False  # a full validation epoch (not the sanity check) ran in this fit

    # ---- the zero-shot column ---------------------------------------------------------------------
    def _collects(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> bool:
        if not self.zero_shot or trainer.sanity_checking or getattr(pl_module, "prompt_learner", None) is None:
            return False
        return stage == "test" or "val" not in self._zero_shot_scalars

    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._metrics = None
        if not self._collects(trainer, pl_module, stage):
            return
        eval_sets = pl_module.eval_sets
        training = pl_module.classnames, pl_module.class_groups
        groups = {name: groups_for_set(names, *training) for name, names in eval_sets.items()}
        self._metrics = nn.ModuleDict(
            {name: eval_metric_collection(len(names), groups[name]) for name, names in eval_sets.items()}
        ).to(pl_module.device)
        self._text_features = {name: pl_module.zero_shot_text_features(names) for name, names in eval_sets.items()}

    @torch.no_grad()
    def _update(self, pl_module: pl.LightningModule, outputs: Any, batch: Any, dataloader_idx: int) -> None:
        if self._metrics is None:
            return
        pixel_values, labels = batch
        if isinstance(pixel_values, ImageFeatures):  # the feature cache holds frozen features
            features = pixel_values.as_subclass(torch.Tensor)
        elif isinstance(outputs, torch.Tensor) and not pl_module.prompt_learner.prompts_images:
            features = outputs  # the evaluation step's image features, from the frozen tower
        else:
            features = pl_module.clip.encode_images(pixel_values)
        set_name = list(self._text_features)[dataloader_idx]
        update_eval_metrics(self._metrics[set_name], pl_module.logits(features, self._text_features[set_name]), labels)

    def _finish(self, pl_module: pl.LightningModule, stage: str) -> None:
        if self._metrics is None:
            return
        results = compute_eval_results(stage, self._metrics, pl_module.eval_sets)  # collective under DDP
        self._zero_shot_scalars[stage] = {key: float(value) for key, value in results.scalars.items()}
        self._metrics, self._text_features = None, {}

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, pl_module, "val")

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, pl_module, "test")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(pl_module, outputs, batch, dataloader_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(pl_module, outputs, batch, dataloader_idx)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._finish(pl_module, "val")
        self._validated = self._validated or not trainer.sanity_checking

    def on_fit_start(self, trainer, pl_module) -> None:
        self._validated = False

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._finish(pl_module, "test")

    # ---- printing ---------------------------------------------------------------------------------
    def summary(self, pl_module: pl.LightningModule, stage: str) -> str | None:
        """The summary of the module's latest `stage` results, or None when that stage did not run."""
        results = getattr(pl_module, "eval_results", {}).get(stage)
        if results is None:
            return None
        scalars = {key: float(value) for key, value in results.scalars.items()}
        sizes = {name: len(names) for name, names in results.classnames.items()}
        if getattr(pl_module, "prompt_learner", None) is None:  # the model is the zero-shot classifier
            return format_summary(stage, scalars, sizes, model_label="zero-shot")
        zero_shot = self._zero_shot_scalars.get(stage) if self.zero_shot else None
        return format_summary(stage, scalars, sizes, zero_shot)

    @rank_zero_only
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        text = self.summary(pl_module, "test")
        if text is not None:
            print(text)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        text = self.summary(pl_module, "val") if self._validated else None
        if text is not None:
            print(text)
