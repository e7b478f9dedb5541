"""`CPTModule`'s evaluation hooks: validation, test and predict score each evaluation set's classes.

A mixin of `CPTModule`, in its own file so the module's file holds its state and training: what
these hooks compute lives in `metrics/evaluation.py` and `metrics/geometry.py`. They use the
module's `classnames`, `class_groups`, `clip`, `cluster_ids`, `eval_metrics`, `eval_results`,
`encode_images`, `logits` and `prompted_text_features` (all set in `CPTModule.__init__`).
"""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule

from cpt_lightning.metrics.evaluation import (
    compute_eval_results,
    eval_metric_collection,
    groups_for_set,
    update_eval_metrics,
)
from cpt_lightning.metrics.geometry import GeometryMetrics
from cpt_lightning.models.data_interface import evaluation_sets


class EvaluationHooks(LightningModule):
    """Per evaluation set (`all`, or `base` and `new`): accuracy, loss, group accuracy and geometry."""

    @property
    def eval_sets(self) -> dict[str, list[str]]:
        """Evaluation set name -> its class names (the data module's `eval_classnames`, set in `setup`)."""
        return dict(self._eval_sets)

    def _configure_evaluation(self) -> None:
        """Read the evaluation sets from the attached data module and build each set's metrics once."""
        self._eval_sets = evaluation_sets(self.trainer.datamodule if self._trainer else None, self.classnames)
        for name, names in self._eval_sets.items():
            if name not in self.eval_metrics:
                groups = groups_for_set(names, self.classnames, self.class_groups)
                self.eval_metrics[name] = eval_metric_collection(len(names), groups)
        set_sizes = {name: len(names) for name, names in self._eval_sets.items()}
        self.geometry = GeometryMetrics(set_sizes, self.clip.config.projection_dim)

    def _prepare_eval_text_features(self) -> None:
        # Prompts are fixed during evaluation: encode each set's classes once, not per batch.
        with torch.no_grad():
            self._eval_text_features = {
                name: self.prompted_text_features(names) for name, names in self._eval_sets.items()
            }

    def on_validation_epoch_start(self) -> None:
        self._prepare_eval_text_features()

    def on_test_epoch_start(self) -> None:
        self._prepare_eval_text_features()

    def _eval_step(self, batch, dataloader_idx: int) -> torch.Tensor:
        """Score one batch; returns its image features (for callbacks such as `ResultsSummary`)."""
        pixel_values, labels = batch
        set_name = list(self._eval_sets)[dataloader_idx]
        image_features = self.encode_images(pixel_values)
        logits = self.logits(image_features, self._eval_text_features[set_name])
        self.geometry.update_images(set_name, image_features, labels)
        update_eval_metrics(self.eval_metrics[set_name], logits, labels)
        return image_features

    def _log_eval_epoch(self, stage: str) -> None:
        # Metric states are already summed over ranks inside compute: no second reduction.
        self.eval_results[stage] = compute_eval_results(stage, self.eval_metrics, self._eval_sets)
        for key, value in self.eval_results[stage].scalars.items():
            self.log(key, value, sync_dist=False)
        # Neural-collapse geometry: NC1 of this epoch's image features, shape of the training prototypes.
        with torch.no_grad():
            geometry = self.geometry.compute(self.prompted_text_features(), self.cluster_ids)
        for name, value in geometry.items():
            self.log(f"{stage}/{name}", value, sync_dist=False)

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self._eval_step(batch, dataloader_idx)

    def on_validation_epoch_end(self) -> None:
        self._log_eval_epoch("val")

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self._eval_step(batch, dataloader_idx)

    def on_test_epoch_end(self) -> None:
        self._log_eval_epoch("test")

    def on_predict_epoch_start(self) -> None:
        self._prepare_eval_text_features()

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        """Logits `[B, K]` over the classes of the loader's evaluation set, exactly as `test_step` scores them."""
        pixel_values = batch[0] if isinstance(batch, list | tuple) else batch
        set_name = list(self._eval_sets)[dataloader_idx]
        return {"logits": self.logits(self.encode_images(pixel_values), self._eval_text_features[set_name])}
