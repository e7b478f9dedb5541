"""`cpt-reproduce --jobs N`: N runs at once on one machine, each pinned to its own GPUs or CPU cores.

A `concurrent.futures.ProcessPoolExecutor` (forked workers on CPU cores, spawned ones for GPUs:
`worker_start_method`) runs the protocol's unfinished runs. Each
worker takes one device slot when it starts: with GPUs, `CUDA_VISIBLE_DEVICES` is set to its share of
the visible GPUs before CUDA starts (so a `devices: 1` trainer uses that GPU); without, the worker is
bound to its share of the CPU cores (`os.sched_setaffinity`) and uses that many torch threads. A worker
runs its runs in its own process (`--in-process`, with one `process_cache` for the worker's life) or
launches one subprocess per run, which inherits the pinning. Every run writes its own `results.json`, so
the table is the same as with one job, and a run that failed or was killed is run by the next invocation.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceSlot:
    """One worker's share of the machine: GPU ids (as `CUDA_VISIBLE_DEVICES` names them) or CPU cores."""

    gpus: tuple[str, ...] = ()
    cores: tuple[int, ...] = ()


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ids for `CUDA_VISIBLE_DEVICES`."""
    configured = os.environ.get("CUDA_VISIBLE_DEVICES")
    if configured is not None:
        return [gpu.strip() for gpu in configured.split(",") if gpu.strip() and gpu.strip() != "-1"]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def available_cores() -> list[int]:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def device_slots(jobs: int, gpus: list[str], cores: list[int]) -> list[DeviceSlot]:
    """`jobs` disjoint slots: an equal share of the GPUs each, or, without GPUs, of the CPU cores.

    With fewer cores than jobs the cores are shared round-robin (one each). Fewer GPUs than jobs is
    an error: two runs on one GPU would compete for its memory.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}.")
    if gpus:
        if len(gpus) < jobs:
            raise ValueError(
                f"--jobs {jobs} pins each run to its own GPU, but {len(gpus)} GPU(s) are visible ({gpus}). "
                f"Use --jobs {len(gpus)} or fewer, or hide the GPUs (CUDA_VISIBLE_DEVICES=) to run on CPU cores."
            )
        share = len(gpus) // jobs
        return [DeviceSlot(gpus=tuple(gpus[i * share : (i + 1) * share])) for i in range(jobs)]
    if len(cores) < jobs:
        return [DeviceSlot(cores=(cores[i % len(cores)],)) for i in range(jobs)]
    share = len(cores) // jobs
    return [DeviceSlot(cores=tuple(cores[i * share : (i + 1) * share])) for i in range(jobs)]


def worker_start_method(slots: list[DeviceSlot]) -> str:
    """"fork" for CPU slots on Linux: the workers inherit this process's imports (torch and transformers,
    seconds each) instead of importing them again; nothing here has started CUDA or a thread pool.
    "spawn" wherever a worker gets GPUs (CUDA and forked workers do not mix) and off Linux."""
    if sys.platform.startswith("linux") and not any(slot.gpus for slot in slots):
        return "fork"
    return "spawn"


_worker_cache = contextlib.ExitStack()


def _pin_worker(slots) -> None:
    """Pool initializer: take one slot, pin this worker to it, and keep a process cache for its life."""
    slot: DeviceSlot = slots.get()
    if slot.gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(slot.gpus)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, slot.cores)
        threads = len(slot.cores)
        configured = os.environ.get("OMP_NUM_THREADS")
        if configured and configured.isdigit():
            threads = min(threads, int(configured))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)
    from cpt_lightning.process_cache import process_cache

    _worker_cache.enter_context(process_cache())


def run_in_pool(specs: list[tuple[Any, Path]], jobs: int, run_one: Callable[[Any, Path], Any]) -> list[Any]:
    """Run `run_one(spec, run_dir)` for every `(spec, run_dir)` on `jobs` pinned workers; return the
    specs that finished. `run_one` is a module-level function (workers receive it by name), e.g.
    `reproduce.runs.execute_run`.

    A failed run does not stop the others; once all have ended, the failures are raised together.
    """
    slots = device_slots(jobs, visible_gpus(), available_cores())
    context = multiprocessing.get_context(worker_start_method(slots))
    queue = context.Queue()
    for slot in slots:
        queue.put(slot)
    finished, failures = [], []
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_pin_worker, initargs=(queue,)
    ) as pool:
        futures = {pool.submit(run_one, spec, run_dir): spec for spec, run_dir in specs}
        for future in concurrent.futures.as_completed(futures):
            spec = futures[future]
            try:
                future.result()
            except Exception as error:  # reported below, with every other failure
                failures.append(f"{spec.run_id}: {error}")
                continue
            log.info("Finished %s.", spec.run_id)
            finished.append(spec)
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(specs)} runs failed (the others finished; re-running the same command "
            "runs only the unfinished ones):\n" + "\n".join(failures)
        )
    return finished
