"""What is frozen, built once per process: reused by every run that a study runs in one process.

`cpt-reproduce --in-process` runs hundreds of fits in one process, and each would otherwise reload the
same CLIP, re-tokenise the same class lists, re-encode the same zero-shot prompts and the same
evaluation images. Inside `process_cache()` those values are kept in one `ProcessCache` and handed to
every later run that asks with the same key. A key holds everything that determines its value (the
model's path and file stamps, the class names and templates, the cache file's content digest, the
device and autocast state), never an object's identity, so a changed input builds a new value.

Outside `process_cache()` (a plain `cpt fit`), `cached` just builds: nothing is kept between runs.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


# Most values of a kind kept at once (least recently used dropped first): a study moves through
# datasets and seeds, and a CLIP or a split's features can be hundreds of megabytes.
DEFAULT_LIMIT = 64
LIMITS = {"clip": 2, "image_features": 16}


class ProcessCache:
    """Values by `(kind, key)`, at most `limits[kind]` per kind (`DEFAULT_LIMIT` for others), least
    recently used dropped first; `hits` / `misses` count lookups per kind (for logs and tests)."""

    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self._values: OrderedDict[tuple[str, Hashable], object] = OrderedDict()
        self.limits = {**LIMITS, **(limits or {})}
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()

    def get(self, kind: str, key: Hashable, build: Callable[[], T], valid: Callable[[T], bool] | None = None) -> T:
        """The value stored under `(kind, key)`, else `build()` stored there.

        `valid(value)` (if given) re-checks a stored value that a run may have changed in place
        (a model cast to another dtype): a stored value that fails it is rebuilt.
        """
        entry = (kind, key)
        if entry in self._values and (valid is None or valid(self._values[entry])):
            self.hits[kind] += 1
            self._values.move_to_end(entry)
            return self._values[entry]  # type: ignore[return-value]
        self.misses[kind] += 1
        self._values.pop(entry, None)
        value = build()
        self._values[entry] = value
        same_kind = [stored for stored in self._values if stored[0] == kind]
        for stale in same_kind[: max(0, len(same_kind) - self.limits.get(kind, DEFAULT_LIMIT))]:
            del self._values[stale]
        return value

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        self._values.clear()


_active: ProcessCache | None = None


@contextlib.contextmanager
def process_cache() -> Iterator[ProcessCache]:
    """Keep frozen values for the duration of the block (nested blocks share the outer cache)."""
    global _active
    if _active is not None:
        yield _active
        return
    _active = ProcessCache()
    try:
        yield _active
    finally:
        _active.clear()
        _active = None


def active_cache() -> ProcessCache | None:
    """The cache of the enclosing `process_cache()` block, or None."""
    return _active


def cached(kind: str, key: Hashable | None, build: Callable[[], T], valid: Callable[[T], bool] | None = None) -> T:
    """`build()`, kept and reused inside `process_cache()` when `key` is not None."""
    if _active is None or key is None:
        return build()
    return _active.get(kind, key, build, valid)


def files_stamp(directory: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """(name, size, modification time) of every file under a directory: a re-saved model changes it."""
    root = Path(directory)
    return tuple(
        (str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() and (stat := path.stat())
    )
