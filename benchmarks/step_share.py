"""A callback that sums the wall time spent inside training, validation and test batches.

The protocol benchmarks add it to every run (`--trainer.callbacks+=step_share.StepShare`) and read
the totals from `StepShare.totals` after the runs: the rest of a run's wall time is set-up,
loaders, checkpointing and teardown.
"""

from __future__ import annotations

import time
from collections import defaultdict

from lightning.pytorch import Callback


class StepShare(Callback):
    """Adds each batch's start-to-end wall time to a process-wide total per stage ("train", "eval"), and
    its process CPU time to "train_cpu" / "eval_cpu" (what load from other jobs disturbs least)."""

    totals: dict[str, float] = defaultdict(float)

    def _start(self, *_args) -> None:
        self._started = (time.perf_counter(), time.process_time())

    def _stop(self, stage: str) -> None:
        StepShare.totals[stage] += time.perf_counter() - self._started[0]
        StepShare.totals[f"{stage}_cpu"] += time.process_time() - self._started[1]

    on_train_batch_start = _start
    on_validation_batch_start = _start
    on_test_batch_start = _start

    def on_train_batch_end(self, *_args) -> None:
        self._stop("train")

    def on_validation_batch_end(self, *_args) -> None:
        self._stop("eval")

    def on_test_batch_end(self, *_args) -> None:
        self._stop("eval")
