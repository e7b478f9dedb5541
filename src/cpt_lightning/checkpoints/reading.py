"""Load a checkpoint file, or say which file is broken and what to do instead of a bare `EOFError`."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from cpt_lightning.checkpoints.migration import migrate_checkpoint

# What torch.load raises on an empty, truncated or foreign file (zip reader, legacy unpickler, storage reads).
UNREADABLE = (EOFError, OSError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError)


class CheckpointReadError(ValueError):
    """A checkpoint file exists but cannot be read (empty, truncated, or not a checkpoint)."""


def unreadable_checkpoint_message(path: str | Path, error: BaseException) -> str:
    """The message for a checkpoint that exists but does not load: the file, its size, the cause, the fix."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    return (
        f"Checkpoint {path} ({size} bytes) cannot be read ({type(error).__name__}: {error}). The file is empty, "
        "truncated (a copy or a job cut short, a full disk) or not a Lightning checkpoint. Pass --ckpt_path an "
        "intact checkpoint (cpt writes its own atomically, so the previous last.ckpt of an interrupted run "
        "is whole), or delete this file and start the run again."
    )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load(path)` on the CPU (tensors and plain containers only), with errors that name the file.

    Hyper-parameters saved under an option's old name are read under its new one (`checkpoints/migration.py`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint {path} does not exist. Check --ckpt_path (relative paths start from {Path.cwd()}), "
            "or use `--ckpt_path last` to resume the newest last.ckpt of this run."
        )
    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except UNREADABLE as error:
        raise CheckpointReadError(unreadable_checkpoint_message(path, error)) from error
    if not isinstance(checkpoint, dict):
        raise CheckpointReadError(
            f"Checkpoint {path} holds a {type(checkpoint).__name__}, not a Lightning checkpoint (a dict with "
            "`state_dict`). Pass --ckpt_path a .ckpt file written by `cpt fit`."
        )
    return migrate_checkpoint(checkpoint, str(path))
