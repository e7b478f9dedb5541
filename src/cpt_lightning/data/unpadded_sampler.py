"""An evaluation sampler for DDP that gives every sample to exactly one rank, without padding.

`torch.utils.data.DistributedSampler` (and so Lightning's automatic one) pads the dataset with
repeated samples until it divides evenly among the ranks, even with `drop_last=False`: a test set
of 15 images on 2 ranks is scored on 16. With this sampler rank r takes samples r, r + W, r + 2W,
... so ranks may differ by one sample (and one batch); metrics whose states are sum-reduced counts
then equal a single process's exactly. Evaluation has no per-batch collective operation, so the
uneven batch counts cannot deadlock; never use it for training (DDP syncs on every step).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


class UnpaddedDistributedSampler(DistributedSampler):
    """Rank r iterates indices `r, r + W, r + 2W, ...` of the dataset in order; no sample is repeated.

    A `DistributedSampler` subclass, so Lightning keeps it (it only injects its own, padding
    sampler where a loader has no distributed sampler).
    """

    def __init__(self, dataset: Dataset, num_replicas: int | None = None, rank: int | None = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        if not isinstance(dataset, Sized):
            raise TypeError(f"UnpaddedDistributedSampler needs a dataset with a length; got {type(dataset).__name__}.")
        self.total_size = len(dataset)
        self.num_samples = len(range(self.rank, self.total_size, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def eval_sampler(dataset: Dataset) -> UnpaddedDistributedSampler | None:
    """The sampler an evaluation loader should use: unpadded under multi-process DDP, else None (in order)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return UnpaddedDistributedSampler(dataset)
    return None
