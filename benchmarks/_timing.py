"""Step timing shared by the benchmarks: clocks, a Lightning step clock, a fixed-batch loader, the report.

A step is timed from one batch's start to the next one's, so everything a
loop does per step (fetching, hooks, logging, the optimizer) is inside and
start-up and teardown are outside. Each repeat yields one median step time
per side; ratios are taken per repeat (the two sides ran back to back), then
the median over repeats is reported.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch
import yaml
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset

Stamp = tuple[float, float]


def clock() -> Stamp:
    """(wall time, this process's CPU time): CPU time is what contention from other jobs changes least."""
    return time.perf_counter(), time.process_time()


class StepClock(Callback):
    """Stamps every `on_train_batch_start`."""

    def __init__(self) -> None:
        self.starts: list[Stamp] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.starts.append(clock())


def step_times(starts: list[Stamp], warmup: int) -> Stamp:
    """Median (wall, CPU) seconds between consecutive starts, after dropping the first `warmup` steps."""
    pairs = list(zip(starts, starts[1:], strict=False))[warmup:]
    return (
        statistics.median(b[0] - a[0] for a, b in pairs),
        statistics.median(b[1] - a[1] for a, b in pairs),
    )


class RepeatedBatch(Dataset):
    """The same pre-collated batch `length` times (use with `batch_size=None`)."""

    def __init__(self, batch: tuple[torch.Tensor, torch.Tensor], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batch


def fixed_batch_loader(batch_size: int, image_size: int, num_classes: int, length: int) -> DataLoader:
    """A loader that serves one seeded random batch of images and labels `length` times."""
    generator = torch.Generator().manual_seed(0)
    batch = (
        torch.randn(batch_size, 3, image_size, image_size, generator=generator),
        torch.randint(0, num_classes, (batch_size,), generator=generator),
    )
    return DataLoader(RepeatedBatch(batch, length), batch_size=None)


def shipped_trainer_callbacks(config: str = "benchmark") -> list[Callback]:
    """The callbacks a `cpt` run with `configs/trainer/<config>.yaml` gets: the file's own (class_path +
    init_args, read from the file) plus the progress bar the CLI adds when the file has none."""
    from cpt_lightning.cli import default_progress_bar
    from cpt_lightning.models.factory_spec import resolve_factory

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "trainer" / f"{config}.yaml").read_text())
    callbacks = [resolve_factory(entry)() for entry in spec.get("callbacks", [])]
    if not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(default_progress_bar())
    return callbacks


def timed_fit(
    module: LightningModule,
    loader: DataLoader,
    steps: int,
    work_dir: Path,
    callbacks: list[Callback] | None = None,
    shipped_callbacks: bool = True,
    **trainer_overrides,
) -> list[Stamp]:
    """Fit `steps` + 1 steps like a real run on the CPU and return the batch-start stamps.

    Configured as `cpt fit` with `configs/trainer/benchmark.yaml` on the CPU: its callbacks (read from the
    file) and the CLI's progress bar (redrawn every 10 steps), a CSV logger in place of W&B,
    `log_every_n_steps=10`, fp32, no validation. `shipped_callbacks=False` drops them (Lightning's
    defaults then apply: a progress bar redrawn every step and a `ModelCheckpoint`);
    `trainer_overrides` replace any Trainer argument.
    """
    step_clock = StepClock()
    arguments = dict(
        accelerator="cpu",
        devices=1,
        max_steps=steps + 1,  # the (steps+1)-th start closes the last timed step
        log_every_n_steps=10,
        logger=CSVLogger(work_dir),
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        default_root_dir=work_dir,
    )
    shipped = shipped_trainer_callbacks() if shipped_callbacks else []
    if trainer_overrides.get("enable_progress_bar") is False:
        shipped = [c for c in shipped if not isinstance(c, ProgressBar)]
    if trainer_overrides.get("enable_checkpointing") is False:
        shipped = [c for c in shipped if not isinstance(c, ModelCheckpoint)]
    if trainer_overrides.get("logger") is False:
        shipped = [c for c in shipped if not isinstance(c, LearningRateMonitor)]
    trainer = Trainer(**{**arguments, **trainer_overrides}, callbacks=[step_clock, *shipped, *(callbacks or [])])
    trainer.fit(module, train_dataloaders=loader)
    return step_clock.starts


def print_comparison(
    results: dict[str, list[tuple[float, float]]], baseline: str, candidate: str, target: float
) -> None:
    """A markdown table of median (wall, CPU) step times and the median per-repeat ratio candidate / baseline.

    `results[name]` holds one `(wall, cpu)` median step time per repeat; the ratio of each repeat is
    taken first (both sides of a repeat ran back to back), then the median over repeats.
    """
    import statistics

    print("| run | median step, wall (ms) | median step, CPU (ms) |")
    print("|---|---|---|")
    for name, times in results.items():
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        print(f"| {name} | {1e3 * wall:.2f} | {1e3 * cpu:.2f} |")
    for index, clock_name in enumerate(("wall", "CPU")):
        ratios = [c[index] / b[index] for b, c in zip(results[baseline], results[candidate], strict=True)]
        print_ratio(f"{candidate} / {baseline} ({clock_name} time)", ratios, target)


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median of `values`: the order statistics `x_(k)` and `x_(n-k+1)`
    with the largest `k` for which `P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2`, so it covers the
    true median with at least `confidence`. With too few values for that, the smallest and largest."""
    ordered = sorted(values)
    n = len(ordered)
    tail = (1.0 - confidence) / 2.0
    below, k = 0.0, 0
    while k < n // 2 and below + math.comb(n, k) / 2.0**n <= tail:
        below += math.comb(n, k) / 2.0**n
        k += 1
    k = max(k, 1)
    return ordered[k - 1], ordered[n - k]


def print_ratio(label: str, ratios: list[float], target: float) -> None:
    """One line: the median of per-repeat `ratios`, its 95% interval (`median_interval`), every repeat's value,
    and the verdict against `target` (on the median; the interval says whether the verdict is clear-cut)."""
    median = statistics.median(ratios)
    low, high = median_interval(ratios)
    verdict = "met" if median <= target else "NOT met"
    if low <= target < high:
        verdict += f" (the interval contains {target})"
    per_repeat = ", ".join(f"{r:.3f}" for r in ratios)
    print(
        f"{label}: median {median:.3f}, 95% interval [{low:.3f}, {high:.3f}] (per repeat: {per_repeat}); "
        f"target <= {target}: {verdict}"
    )
