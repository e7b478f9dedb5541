"""Inspecting a trained checkpoint: rebuild its run, recompute its features and logged metrics."""

from cpt_lightning.analysis.checkpoint_run import (
    CheckpointRun,
    LabelledFeatures,
    accuracy_as_logged,
    eval_features,
    geometry_as_logged,
    load_checkpoint_run,
    read_logged_metrics,
)
from cpt_lightning.analysis.demo_run import TrainedRun, train_demo_checkpoint

__all__ = [
    "CheckpointRun",
    "LabelledFeatures",
    "TrainedRun",
    "accuracy_as_logged",
    "eval_features",
    "geometry_as_logged",
    "load_checkpoint_run",
    "read_logged_metrics",
    "train_demo_checkpoint",
]
