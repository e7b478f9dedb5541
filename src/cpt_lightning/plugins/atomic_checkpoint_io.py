"""Checkpoints written to a temporary file beside the target and renamed into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO


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
    (s3://, gs://) keep Lightning's behaviour.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if not isinstance(get_filesystem(path), type(get_filesystem("."))):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(target)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(checkpoint, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)


def _remove_stale_partials(target: Path) -> None:
    # Left by a job killed mid-write; only this target's, so concurrent writers of other files are safe.
    for stale in target.parent.glob(f".{target.name}.*.partial"):
        stale.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable across a power loss, not only a process kill.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
