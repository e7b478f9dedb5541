"""Files that are either the old version or the complete new one: never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PARTIAL_SUFFIX = ".partial"


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a stream to a hidden `.<name>.<random>.partial` file beside `path`; on success fsync it and
    `os.replace` it onto `path`, on any error (or exception) delete it.

    The temporary file lives in the target's own folder, so the rename stays on one filesystem and is
    atomic; a process killed mid-write leaves at most a `.partial` file, which no reader of `path` (nor
    a `*.ckpt` / `*.json` glob) mistakes for the real one. The folder is fsynced after the rename so the
    rename survives a power loss too.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def remove_stale_partials(path: str | Path) -> None:
    """Delete `.partial` files that a killed writer of `path` left behind (only this file's)."""
    target = Path(path)
    for stale in target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}"):
        stale.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
