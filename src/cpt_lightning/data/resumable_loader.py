"""A DataLoader that resumes mid-epoch at the batch where a checkpoint was taken."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import torch
from torch.utils.data import DataLoader

from cpt_lightning.data.epoch_sampler import SeededEpochSampler


class ResumableDataLoader(DataLoader):
    """A training DataLoader that Lightning checkpoints, and that skips the batches already trained on.

    Lightning stores the `state_dict` of a stateful loader in the checkpoint
    and calls `load_state_dict` when it restarts mid-epoch. The number of
    batches to skip is read from `completed_batches()` at that moment (the
    trainer's restored batch progress) rather than counted here, because
    Lightning prefetches a batch ahead of the one being trained.

    With a `SeededEpochSampler` the skip happens in the sampler (no image is
    decoded for nothing); behind another sampler (e.g. Lightning's DDP
    wrapper) the first batches are drawn and dropped.
    """

    def __init__(self, *args: Any, completed_batches: Callable[[], int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.completed_batches = completed_batches
        self._resume_pending = False

    def state_dict(self) -> dict[str, Any]:
        return {"resumable": True}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_pending = bool(state_dict.get("resumable"))

    def __iter__(self) -> Iterator[Any]:
        resume, self._resume_pending = self._resume_pending and self.completed_batches is not None, False
        if not resume:
            return super().__iter__()
        sampler = getattr(self.batch_sampler, "sampler", None)
        if isinstance(sampler, SeededEpochSampler) and self.batch_size is not None:
            sampler.skip_first = lambda: self.completed_batches() * self.batch_size
            return super().__iter__()
        return self._dropping_completed_batches()

    def _dropping_completed_batches(self) -> Iterator[Any]:
        # Lightning creates the iterator before it restores the batch count: read it at the first batch.
        iterator = super().__iter__()
        yield from islice(iterator, self.completed_batches(), None)


def resumable_train_loader(
    datamodule: Any, dataset: Any, batch_size: int, seed: int, num_workers: int = 0
) -> ResumableDataLoader:
    """The training loader every data module uses: seeded epoch order, per-sample augmentation seeds, resumable."""

    def completed_batches() -> int:
        trainer = getattr(datamodule, "trainer", None)
        return trainer.fit_loop.epoch_loop.batch_progress.current.completed if trainer is not None else 0

    return ResumableDataLoader(
        dataset,
        batch_size=batch_size,
        sampler=SeededEpochSampler(len(dataset), seed=seed),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        completed_batches=completed_batches,
    )
