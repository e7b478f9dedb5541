"""CoOp's optimisation recipe as LightningCLI-injectable callables.

`model.optimizer` and `model.scheduler` take any `torch.optim` class (or
callable) from YAML via `class_path` / `init_args`; these are the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import SGD, Optimizer
from torch.optim.lr_scheduler import LRScheduler


def coop_sgd(params: Iterable[torch.nn.Parameter]) -> Optimizer:
    """SGD, lr 0.002, momentum 0.9, weight decay 5e-4: CoOp's and KgCoOp's recipe."""
    return SGD(params, lr=0.002, momentum=0.9, weight_decay=5e-4)


class WarmupCosineLR(LRScheduler):
    """Constant warm-up at `warmup_lr` for `warmup_epochs`, then cosine decay to 0 over the rest.

    Stepped once per epoch (CoOp's ConstantWarmupScheduler + CosineAnnealingLR).
    `max_epochs` defaults to the trainer's, filled in by `CPTModule`.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_epochs: int = 1,
        warmup_lr: float = 1e-5,
        max_epochs: int | None = None,
        last_epoch: int = -1,
    ) -> None:
        self.warmup_epochs = warmup_epochs
        self.warmup_lr = warmup_lr
        self.max_epochs = max_epochs
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch = self.last_epoch
        if epoch < self.warmup_epochs:
            return [self.warmup_lr for _ in self.base_lrs]
        # CoOp's cosine runs over all max_epochs; warm-up only overrides its first epochs.
        total = max(self.max_epochs or 1, 1)
        factor = 0.5 * (1 + math.cos(math.pi * min(epoch, total) / total))
        return [base * factor for base in self.base_lrs]
