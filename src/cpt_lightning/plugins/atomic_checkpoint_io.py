"""Checkpoints written to a temporary file beside the target and renamed into place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cpt_lightning.atomic_write import atomic_write, remove_stale_partials
from cpt_lightning.checkpoints.reading import UNREADABLE, CheckpointReadError, unreadable_checkpoint_message


class AtomicCheckpointIO(TorchCheckpointIO):
    """A job killed at any moment leaves either the previous checkpoint or the new one, never half of one.

    Lightning's own save goes through an fsspec transaction whose temporary
    file lives in the system temp directory; moving it into a checkpoint
    directory on another filesystem (the usual case on clusters) is a copy,
    which a SIGKILL can cut short, and a killed job leaves the temporary file
    behind. Here the bytes go to a hidden `.<name>.<random>.partial` file in
    the target directory, are fsynced, and `os.replace` swaps them in
    atomically. A partial file never matches `*.ckpt`, so `--ckpt_path last`
    cannot pick one up; stale ones are removed by the next save. Remote paths
    (s3://, gs://) keep Lightning's behaviour. A checkpoint that cannot be read
    is reported with its path, size and what to do.
    """

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except FileNotFoundError:
            raise
        except UNREADABLE as error:
            raise CheckpointReadError(unreadable_checkpoint_message(path, error)) from error

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if not isinstance(get_filesystem(path), type(get_filesystem("."))):
            return super().save_checkpoint(checkpoint, path, storage_options)
        remove_stale_partials(path)
        with atomic_write(path) as stream:
            torch.save(checkpoint, stream)
