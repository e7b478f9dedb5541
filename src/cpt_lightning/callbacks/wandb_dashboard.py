"""W&B dashboards: best-so-far summaries, a per-class accuracy table and the prototype Gram heat map."""

from __future__ import annotations

import logging

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only

from cpt_lightning.loggers.wandb_run import WANDB_RUN_KEY
from cpt_lightning.metrics.evaluation import EvalResults, summary_directions

log = logging.getLogger(__name__)

TRAIN_DIRECTIONS = {"train/acc": "max", "train/loss": "min"}


def cluster_order(cluster_ids: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, list[int]]:
    """Class order grouping each cluster together (stable, by class index inside a cluster), and the
    positions where a new cluster starts; class-index order with no boundaries when there are no clusters."""
    if cluster_ids.numel() != num_classes:
        return torch.arange(num_classes), []
    order = torch.sort(cluster_ids.cpu(), stable=True).indices
    sorted_ids = cluster_ids.cpu()[order]
    boundaries = (torch.nonzero(sorted_ids[1:] != sorted_ids[:-1]).flatten() + 1).tolist()
    return order, boundaries


def prototype_gram(text_features: torch.Tensor, order: torch.Tensor) -> np.ndarray:
    """Cosine Gram matrix `T T^T` of L2-normalised prototypes `[K, D]`, rows and columns in `order`."""
    ordered = torch.nn.functional.normalize(text_features.detach().float().cpu(), dim=-1)[order]
    return (ordered @ ordered.t()).numpy()


def gram_heatmap(gram: np.ndarray, boundaries: list[int], title: str):
    """A matplotlib figure of the Gram matrix (cosines in [-1, 1]) with cluster boundaries drawn, or,
    without matplotlib, the matrix as an 8-bit image (black -1 .. white 1)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return np.round((gram + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    figure, axes = plt.subplots(figsize=(6, 5))
    image = axes.imshow(gram, vmin=-1.0, vmax=1.0, cmap="RdBu_r", interpolation="nearest")
    for position in boundaries:
        axes.axhline(position - 0.5, color="black", linewidth=0.5)
        axes.axvline(position - 0.5, color="black", linewidth=0.5)
    axes.set_title(title)
    axes.set_xlabel("class (ordered by cluster)")
    figure.colorbar(image, ax=axes, label="cosine")
    figure.tight_layout()
    return figure


def class_table_rows(results: EvalResults, class_groups: list[str] | None, training: list[str]) -> list[list]:
    """One row per (set, class): set, index, name, group, samples, accuracy (None where no samples)."""
    rows = []
    for set_name, accuracies in results.per_class.items():
        names = results.classnames[set_name]
        groups = class_groups if class_groups is not None and names == training else [""] * len(names)
        counts = results.samples[set_name].tolist()
        for index, (name, accuracy) in enumerate(zip(names, accuracies.tolist(), strict=True)):
            value = None if np.isnan(accuracy) else accuracy
            rows.append([set_name, index, name, groups[index], counts[index], value])
    return rows


class WandbDashboard(Callback):
    """Best-so-far summaries and per-epoch media for every `WandbLogger` of the trainer; a no-op otherwise.

    Defines each evaluation key with `summary="max"` (accuracies, HM) or `"min"` (losses) against
    `trainer/global_step`, and after every validation epoch (not the sanity check) and every test
    logs `<stage>/per_class_accuracy` (a `wandb.Table`) and `<stage>/prototype_gram` (heat map of
    the prompt-tuned training prototypes' cosine Gram matrix, ordered by `pl_module.cluster_ids`
    when assigned, else by class index). Media of a checkpoint being evaluated (`cpt test
    --ckpt_path`) carry that checkpoint's training step, in the title and as their step; each
    checkpoint a fit writes records the fit's W&B run (`WandbRunLogger.fit_checkpoint`).

    Args:
        class_table: log the per-class accuracy table.
        gram_heatmap: log the Gram heat map.
    """

    def __init__(self, class_table: bool = True, gram_heatmap: bool = True) -> None:
        self.class_table = class_table
        self.gram_heatmap = gram_heatmap
        self._defined: set[str] = set()
        self._checkpoint_step: int | None = None  # the training step of the checkpoint being evaluated

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        # The fit's run, so that `cpt test` of this checkpoint can log into it (WandbRunLogger.fit_checkpoint).
        loggers = self._loggers(trainer)
        if loggers and trainer.is_global_zero:
            run = loggers[0].experiment
            checkpoint[WANDB_RUN_KEY] = {"id": run.id, "project": run.project, "entity": run.entity}

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        self._checkpoint_step = checkpoint.get("global_step")

    def _step(self, trainer: Trainer) -> int:
        """The training step media belong to: the trainer's in a fit, the checkpoint's when evaluating one."""
        if trainer.state.fn == TrainerFn.FITTING or self._checkpoint_step is None:
            return trainer.global_step
        return self._checkpoint_step

    @staticmethod
    def _loggers(trainer: Trainer) -> list[WandbLogger]:
        return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]

    @rank_zero_only
    def _define_metrics(self, trainer: Trainer, pl_module: LightningModule, stages: tuple[str, ...]) -> None:
        eval_sets = getattr(pl_module, "eval_sets", None)
        eval_metrics = getattr(pl_module, "eval_metrics", None)
        if not self._loggers(trainer) or eval_sets is None or eval_metrics is None:
            return
        directions = {}
        for stage in stages:
            directions.update(
                TRAIN_DIRECTIONS if stage == "train" else summary_directions(stage, eval_metrics, eval_sets)
            )
        for logger in self._loggers(trainer):
            for name, direction in directions.items():
                if name not in self._defined:
                    logger.experiment.define_metric(name, step_metric="trainer/global_step", summary=direction)
        self._defined.update(directions)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._define_metrics(trainer, pl_module, ("train", "val"))

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._define_metrics(trainer, pl_module, ("val",))

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._define_metrics(trainer, pl_module, ("test",))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log_media(trainer, pl_module, "val")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log_media(trainer, pl_module, "test")

    @rank_zero_only
    def _log_media(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        results = getattr(pl_module, "eval_results", {}).get(stage)
        step = self._step(trainer)
        for logger in self._loggers(trainer):
            if self.class_table and results is not None:
                rows = class_table_rows(results, getattr(pl_module, "class_groups", None), pl_module.classnames)
                columns = ["set", "class_index", "class", "group", "samples", "accuracy"]
                logger.log_table(f"{stage}/per_class_accuracy", columns=columns, data=rows, step=step)
            if self.gram_heatmap and hasattr(pl_module, "prompted_text_features"):
                figure = self._gram_figure(pl_module, f"{stage} prototype Gram, step {step}")
                logger.log_image(f"{stage}/prototype_gram", images=[figure], step=step)
                if not isinstance(figure, np.ndarray):
                    import matplotlib.pyplot as plt

                    plt.close(figure)

    @staticmethod
    def _gram_figure(pl_module: LightningModule, title: str):
        with torch.no_grad():
            features = pl_module.prompted_text_features()
        cluster_ids = getattr(pl_module, "cluster_ids", torch.empty(0))
        order, boundaries = cluster_order(cluster_ids, features.shape[0])
        ordered_by = "cluster" if cluster_ids.numel() == features.shape[0] else "class index"
        return gram_heatmap(prototype_gram(features, order), boundaries, f"{title} (ordered by {ordered_by})")
