"""Rebuild a finished run from its checkpoint and config, and recompute what its evaluation logged.

A checkpoint holds the prompts and the cluster assignment; the run's `config.yaml` (written by
`cpt fit` next to its logs) says which data it saw. With both, the evaluation features and every
logged evaluation number can be recomputed outside the Trainer, by the metrics the Trainer used.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import yaml
from lightning.pytorch import LightningDataModule
from torch import nn

from cpt_lightning.metrics.evaluation import (
    compute_eval_results,
    eval_metric_collection,
    groups_for_set,
    update_eval_metrics,
)
from cpt_lightning.metrics.geometry import GeometryMetrics
from cpt_lightning.models.cpt_module import CPTModule
from cpt_lightning.models.factory_spec import resolve_factory

Split = Literal["val", "test"]


@dataclass
class CheckpointRun:
    """A checkpoint's module (prompts and cluster assignment restored, in eval mode) and its run's data module."""

    module: CPTModule
    datamodule: LightningDataModule


@dataclass
class LabelledFeatures:
    """L2-normalised image features `[N, D]` of one evaluation set, their labels `[N]` and the set's class names."""

    features: torch.Tensor
    labels: torch.Tensor
    classnames: list[str]


def _require_file(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; give the path of an existing file.")
    return path


def load_checkpoint_run(checkpoint: str | Path, config: str | Path) -> CheckpointRun:
    """The module stored in `checkpoint` and the data module described by the run's `config` YAML.

    `config` is the `config.yaml` that `cpt fit` saves in the run's log directory (or the file the
    run was started with); only its `data:` section (`class_path` / `init_args`) is used. The data
    module gets the checkpoint's CLIP image settings and is set up, so its loaders are ready.
    """
    checkpoint = _require_file(checkpoint, "Checkpoint")
    run_config = yaml.safe_load(_require_file(config, "Run config").read_text()) or {}
    data_spec = run_config.get("data")
    if not isinstance(data_spec, dict) or "class_path" not in data_spec:
        raise ValueError(
            f"{config} has no `data:` section with a `class_path`; pass the config.yaml that `cpt fit` saved "
            "in the run's log directory."
        )
    with warnings.catch_warnings():
        # By design a checkpoint holds no frozen CLIP weights (and the loss terms' buffers are
        # training state): Lightning's warning that they are missing says nothing here.
        warnings.filterwarnings("ignore", message="Found keys that are")
        module = CPTModule.load_from_checkpoint(checkpoint, map_location="cpu")
    module.eval()
    datamodule = resolve_factory(data_spec)()
    if getattr(datamodule, "image_settings", None) is None:
        datamodule.image_settings = module.image_settings
    datamodule.setup("validate")
    return CheckpointRun(module=module, datamodule=datamodule)


@torch.no_grad()
def eval_features(
    module: CPTModule, datamodule: LightningDataModule, split: Split = "val", frozen: bool = False
) -> dict[str, LabelledFeatures]:
    """Image features of every evaluation set of `split`, in the data module's `eval_classnames` order.

    Batches come from the data module's own loaders (eval transform, same order as the Trainer's
    evaluation). `frozen=True` encodes with the frozen CLIP alone, the zero-shot image features
    (identical to the tuned ones for a host that prompts only the text tower).
    """
    loaders = datamodule.val_dataloader() if split == "val" else datamodule.test_dataloader()
    loaders = loaders if isinstance(loaders, list | tuple) else [loaders]
    encode = module.clip.encode_images if frozen else module.encode_images
    result = {}
    for (set_name, classnames), loader in zip(datamodule.eval_classnames.items(), loaders, strict=True):
        features, labels = [], []
        for pixel_values, batch_labels in loader:
            features.append(encode(pixel_values.to(module.device)).float())
            labels.append(batch_labels.to(module.device))
        result[set_name] = LabelledFeatures(torch.cat(features), torch.cat(labels), list(classnames))
    return result


def geometry_as_logged(
    text_features: torch.Tensor,
    cluster_ids: torch.Tensor | None,
    features: dict[str, LabelledFeatures],
    stage: str = "val",
) -> dict[str, float]:
    """The geometry an evaluation epoch logs (`GeometryMetrics`), under the same `<stage>/...` keys.

    `text_features` are the training classes' prototypes (the tuned ones for what was logged, `t0`
    for the frozen reference); `features` the evaluation sets' image features.
    """
    set_sizes = {name: len(f.classnames) for name, f in features.items()}
    metrics = GeometryMetrics(set_sizes, text_features.shape[1]).to(text_features.device)
    for name, labelled in features.items():
        metrics.update_images(name, labelled.features, labelled.labels)
    values = metrics.compute(text_features, cluster_ids)
    return {f"{stage}/{name}": float(value) for name, value in values.items()}


@torch.no_grad()
def accuracy_as_logged(
    module: CPTModule, features: dict[str, LabelledFeatures], stage: str = "val", frozen: bool = False
) -> dict[str, float]:
    """Accuracy, loss, head / medium / tail and HM per evaluation set, as the module logs them.

    Classifies with the module's prompted text features (`frozen=True`: the zero-shot ones) through
    the module's own evaluation metrics (`metrics/evaluation.py`).
    """
    metrics = nn.ModuleDict()
    for set_name, labelled in features.items():
        groups = groups_for_set(labelled.classnames, module.classnames, module.class_groups)
        metrics[set_name] = eval_metric_collection(len(labelled.classnames), groups).to(module.device)
        encode_text = module.zero_shot_text_features if frozen else module.prompted_text_features
        logits = module.logits(labelled.features, encode_text(labelled.classnames))
        update_eval_metrics(metrics[set_name], logits, labelled.labels)
    eval_sets = {name: labelled.classnames for name, labelled in features.items()}
    return {key: float(value) for key, value in compute_eval_results(stage, metrics, eval_sets).scalars.items()}


def read_logged_metrics(metrics_csv: str | Path, stage: str = "val", epoch: int | None = None) -> dict[str, float]:
    """The `<stage>/...` values a `CSVLogger` wrote for one epoch (default: the last epoch that has any).

    Lightning writes an epoch's values over several rows; they are merged. Returns `{}` when the
    file has no `<stage>/` values.
    """
    prefix = f"{stage}/"
    by_epoch: dict[int, dict[str, float]] = {}
    with open(_require_file(metrics_csv, "Metrics CSV"), newline="") as handle:
        for row in csv.DictReader(handle):
            values = {key: float(value) for key, value in row.items() if key.startswith(prefix) and value}
            if values and row.get("epoch"):
                by_epoch.setdefault(int(row["epoch"]), {}).update(values)
    if not by_epoch:
        return {}
    return by_epoch[max(by_epoch) if epoch is None else epoch]
