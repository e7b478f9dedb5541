"""`cpt predict`'s output: one row per image (key, set, label, top-k classes and probabilities), CSV or JSONL.

Rows are gathered from every DDP rank onto rank 0, which writes one file, ordered by evaluation
set and by the image's index in its loader's dataset: the same file as one process writes. The
data module names the images through `prediction_keys()` (one list of keys per predict loader,
a file path where there is one); without it a row's key is the image's index.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from cpt_lightning.atomic_write import atomic_write
from cpt_lightning.labels import UNLABELLED

FORMATS = (".csv", ".jsonl")


def top_k_predictions(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class indices `[B, k]` by descending logit, and their softmax probabilities.

    A stable sort puts the lowest index first among equal logits, as `argmax` (and so the test
    accuracy) does, so a row's first class is always the class `cpt test` counts as predicted.
    """
    order = torch.sort(logits.float(), dim=-1, descending=True, stable=True).indices[:, :k]
    probabilities = logits.float().softmax(dim=-1).gather(1, order)
    return order, probabilities


def _gather_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return rows
    gathered: list[list[dict[str, Any]] | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, rows)
    return [row for part in gathered for row in part or []]


class PredictionWriter(BasePredictionWriter):
    """Write `cpt predict`'s rows to `path` (`.csv` or `.jsonl`; default `<log dir>/predictions.jsonl`).

    A row: `path` (the image's key), `set` (the evaluation set: "all", or "base" / "new"), `label`
    (its class name, or None for an unlabelled image), then its `top_k` most probable classes of
    that set with their probabilities (every class when the set has fewer). The CLI always adds it
    (the `predictions:` section); it acts only under `predict`.

    Args:
        path: output file; its suffix picks the format.
        top_k: how many classes per row.
    """

    def __init__(self, path: str | None = None, top_k: int = 5) -> None:
        super().__init__(write_interval="batch")
        if path is not None and Path(path).suffix not in FORMATS:
            raise ValueError(f"predictions.path must end in {' or '.join(FORMATS)}; got {path!r}.")
        if top_k < 1:
            raise ValueError(f"predictions.top_k must be >= 1; got {top_k}.")
        self.path = path
        self.top_k = top_k
        self._rows: list[dict[str, Any]] = []
        self._keys: list[list[str]] | None = None
        self.written: Path | None = None  # the file of the last predict run (rank 0)

    def output_path(self, trainer: Trainer) -> Path:
        """Where the rows go: `path`, else `predictions.jsonl` in the trainer's log directory."""
        if self.path is not None:
            return Path(self.path)
        return Path(trainer.log_dir or trainer.default_root_dir) / "predictions.jsonl"

    def on_predict_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rows = []
        keys = getattr(trainer.datamodule, "prediction_keys", None) if trainer.datamodule is not None else None
        self._keys = keys() if keys is not None else None

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        set_name = list(pl_module.eval_sets)[dataloader_idx]
        names = pl_module.eval_sets[set_name]
        order, probabilities = top_k_predictions(prediction["logits"], min(self.top_k, len(names)))
        labels = batch[1].tolist() if isinstance(batch, list | tuple) and len(batch) > 1 else None
        for row, index in enumerate(batch_indices):
            label = labels[row] if labels is not None else UNLABELLED
            self._rows.append(
                {
                    "loader": dataloader_idx,
                    "index": int(index),
                    "path": self._keys[dataloader_idx][index] if self._keys is not None else str(index),
                    "set": set_name,
                    "label": names[label] if label != UNLABELLED else None,
                    "classes": [names[k] for k in order[row].tolist()],
                    "probabilities": probabilities[row].tolist(),
                }
            )

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        rows = _gather_rows(self._rows)
        self._rows = []
        if not trainer.is_global_zero:
            return
        rows.sort(key=lambda row: (row["loader"], row["index"]))
        path = self.output_path(trainer)
        with atomic_write(path, "w") as stream:
            if path.suffix == ".csv":
                _write_csv(stream, rows, self.top_k)
            else:
                for row in rows:
                    stream.write(json.dumps({key: row[key] for key in _COLUMNS}) + "\n")
        self.written = path


_COLUMNS = ("path", "set", "label", "classes", "probabilities")


def _write_csv(stream, rows: list[dict[str, Any]], top_k: int) -> None:
    ranked_columns = [f"{field}_{rank}" for rank in range(1, top_k + 1) for field in ("class", "probability")]
    header = ["path", "set", "label", *ranked_columns]
    writer = csv.writer(stream)
    writer.writerow(header)
    for row in rows:
        ranked = [value for pair in zip(row["classes"], row["probabilities"], strict=True) for value in pair]
        padding = [""] * (2 * top_k - len(ranked))  # a set with fewer than top_k classes
        writer.writerow([row["path"], row["set"], row["label"] or "", *ranked, *padding])


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a predictions file (either format) as JSONL writes them: path, set, label, classes, probabilities."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    rows = []
    with path.open(newline="") as stream:
        for record in csv.DictReader(stream):
            ranks = range(1, sum(1 for key in record if key.startswith("class_")) + 1)
            classes = [record[f"class_{r}"] for r in ranks if record[f"class_{r}"]]
            rows.append(
                {
                    "path": record["path"],
                    "set": record["set"],
                    "label": record["label"] or None,
                    "classes": classes,
                    "probabilities": [float(record[f"probability_{r}"]) for r in ranks[: len(classes)]],
                }
            )
    return rows
