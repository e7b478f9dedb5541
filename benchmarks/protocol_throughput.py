"""Runs per hour of a protocol in `cpt-reproduce --in-process` mode, and the share of steps in its wall time.

Runs the selected part of a protocol in this process into a fresh folder, with a `StepShare` callback
on every run, and prints one JSON line: runs, wall seconds (imports excluded: the runner's process
imports once), runs per hour, and the seconds spent inside training and evaluation batches.
To compare two checkouts, run this script with each one's `src` on PYTHONPATH, alternately.
With `--jobs N` (passed on to `cpt-reproduce`) the runs happen in N worker processes: the CPU time is
then this process's plus its workers', and the step totals, which live in the workers, are not reported.

    python benchmarks/protocol_throughput.py configs/world/protocol.yaml --datasets sketches \
        --settings tau=1 --seeds 1 2 --methods zeroshot coop cpt
    python benchmarks/protocol_throughput.py ... --smoke   # the same runs at smoke size, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))


def smoke_arguments(protocol: str, root: Path) -> list[str]:
    """`--override KEY=VALUE` arguments that run every run of the protocol at smoke size."""
    from cpt_lightning.reproduce.protocols import load_protocol
    from cpt_lightning.reproduce.runs import plan_runs
    from cpt_lightning.testing.smoke import smoke_overrides_for_runs

    overrides = smoke_overrides_for_runs(plan_runs(load_protocol(protocol), root))
    print(f"--smoke: every run with {overrides} (a check that the code runs, not a measurement)", file=sys.stderr)
    return [word for key, value in overrides.items() for word in ("--override", f"{key}={value}")]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the `--jobs` workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocol")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--label", default="", help="a name for this checkout in the output line")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process (default 1)")
    parser.add_argument(
        "--smoke", action="store_true", help="every run at smoke size (cpt_lightning.testing.smoke), in seconds"
    )
    args, extra = parser.parse_known_args()  # the rest goes to cpt-reproduce
    started_imports = time.perf_counter()
    import torch
    from step_share import StepShare

    import cpt_lightning
    from cpt_lightning.reproduce.cli import main as reproduce

    torch.set_num_threads(args.threads)
    imports = time.perf_counter() - started_imports
    # `--jobs N` workers that are spawned (those with GPUs) find `step_share` through PYTHONPATH (set for
    # the runs only, so a caller that runs this script in its own process keeps its environment).
    here = str(Path(__file__).resolve().parent)
    search_path = {"PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="protocol_throughput_") as out, mock.patch.dict(os.environ, search_path):
        argv = [args.protocol, "--out", out, "--root", args.root, "--in-process", *extra]
        argv += ["--override", "trainer.callbacks+=step_share.StepShare"]
        if args.smoke:  # only this checkout's package has the smoke sizes
            argv += smoke_arguments(args.protocol, Path(args.root))
        started, started_cpu = time.perf_counter(), cpu_seconds()
        reproduce(argv)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - started_cpu
        runs = len(list(Path(out).rglob("results.json")))
    steps = dict(StepShare.totals)
    in_workers = not steps and runs > 0  # `--jobs N`: the steps were timed in the workers

    def share(value: float) -> float | None:
        return None if in_workers else round(value, 3)

    print(
        json.dumps(
            {
                "label": args.label,
                "threads": args.threads,
                "jobs": next((extra[i + 1] for i, word in enumerate(extra[:-1]) if word == "--jobs"), "1"),
                "package": str(Path(cpt_lightning.__file__).parent),
                "runs": runs,
                "imports_s": round(imports, 2),
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "runs_per_hour": round(3600 * runs / wall, 1),
                "runs_per_cpu_hour": round(3600 * runs / cpu, 1),
                "train_steps_s": round(steps.get("train", 0.0), 2),
                "eval_steps_s": round(steps.get("eval", 0.0), 2),
                "step_share": share((steps.get("train", 0.0) + steps.get("eval", 0.0)) / wall),
                "train_steps_cpu_s": round(steps.get("train_cpu", 0.0), 2),
                "eval_steps_cpu_s": round(steps.get("eval_cpu", 0.0), 2),
                "step_share_cpu": share((steps.get("train_cpu", 0.0) + steps.get("eval_cpu", 0.0)) / cpu),
            }
        )
    )


if __name__ == "__main__":
    main()
