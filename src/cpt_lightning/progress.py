"""Progress bars for long loops outside Lightning's own (feature extraction, text encoding, clustering)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

from lightning.pytorch.utilities import rank_zero_only
from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, total: int | None = None, min_steps: int = 2) -> Iterator[T]:
    """Iterate `items` with a tqdm bar on rank zero when there are at least `min_steps` steps.

    Other ranks and short loops stay silent; tqdm itself stays silent where stderr is not a terminal
    (`disable=None`), so logs of batch jobs are not flooded with bar updates.
    """
    total = total if total is not None else (len(items) if isinstance(items, Sized) else None)
    quiet = rank_zero_only.rank != 0 or (total is not None and total < min_steps)
    return iter(tqdm(items, desc=desc, total=total, disable=True if quiet else None, leave=False))
