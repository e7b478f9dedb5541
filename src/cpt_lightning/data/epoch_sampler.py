"""A shuffling sampler whose order and per-sample augmentation seeds depend only on (seed, epoch)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def sample_seed(seed: int, epoch: int, index: int | None = None) -> int:
    """The augmentation seed of item `index` in `epoch` (`index=None`: the epoch's shuffling seed).

    A hash of its arguments, so it does not depend on the order in which samples are drawn.
    """
    entropy = [seed % 2**64, epoch] if index is None else [seed % 2**64, epoch, index]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class SeededEpochSampler(Sampler[tuple[int, int]]):
    """Yields `(index, augmentation_seed)` in an order fixed by `(seed, epoch)`.

    Why not `RandomSampler`: its order and the augmentation streams depend on
    global RNG state and on how many batches a process has already drawn, so
    a run resumed mid-epoch (or with another `num_workers`) sees other
    batches. Here both are pure functions of (seed, epoch, index): a resumed
    run replays exactly the batches an uninterrupted run would have seen.
    Lightning calls `set_epoch` each epoch (also through its DDP wrapper).
    `skip_first`, if set, is called when iteration begins and returns how
    many items of the epoch to skip (a resume); it is then cleared.
    """

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.skip_first: Callable[[], int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch))
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = list(range(self.num_samples))
        # Evaluated lazily, at the first item: Lightning creates the iterator before it has
        # restored how many batches of the interrupted epoch were completed.
        start = self.skip_first() if self.skip_first is not None else 0
        self.skip_first = None
        for index in order[start:]:
            yield index, sample_seed(self.seed, self.epoch, index)
