"""A TQDM progress bar that redraws every `refresh_rate` steps and always shows the epoch's last step."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import TQDMProgressBar


class StepProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar, redrawn at the last training step of an epoch even when that step is no multiple
    of `refresh_rate` and not the epoch's planned end (a fit stopped by `trainer.max_steps` or
    `max_time` mid-epoch), so that the bar never ends behind the step the fit reached."""

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self._steps_in_epoch = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self._steps_in_epoch = 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._steps_in_epoch = batch_idx + 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable and bar.n != self._steps_in_epoch:
            bar.n = self._steps_in_epoch
            bar.refresh()
        super().on_train_epoch_end(trainer, pl_module)
