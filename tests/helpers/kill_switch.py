"""Callbacks and patches that kill the training process the hard way (SIGKILL), for resume tests."""

from __future__ import annotations

import os
import signal

import lightning.pytorch as pl


class KillAtStep(pl.Callback):
    """SIGKILLs the process at the end of global step `step` (no cleanup, no exception handlers run)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class KillDuringCheckpointWrite(pl.Callback):
    """From global step `step` on, the next checkpoint write is SIGKILLed after part of it was written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        import torch

        real_save = torch.save

        def save_then_die(obj, stream, *args, **kwargs):
            real_save(obj, stream, *args, **kwargs)
            stream.flush()
            stream.truncate(max(1, stream.tell() // 2))  # a half-written file on disk...
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the job dies before finishing

        torch.save = save_then_die
