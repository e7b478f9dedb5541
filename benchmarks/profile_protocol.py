"""cProfile of protocol runs in one process, after one warm-up run: where a study's run spends its time.

Runs the first selected run once to warm imports (and caches), then profiles all of them with
`reproduce.runs.execute_run` (inside `process_cache()` where the checkout has it, as
`cpt-reproduce --in-process` runs them) and prints the process CPU time and the top entries by
cumulative time. Works on checkouts from before `process_cache` existed (set PYTHONPATH to them).

    python benchmarks/profile_protocol.py configs/world/protocol.yaml --dataset sketches \
        --methods zeroshot coop cpt --seeds 1
    python benchmarks/profile_protocol.py ... --smoke   # the same runs at smoke size, in seconds
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocol")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--setting", default="tau=1")
    parser.add_argument("--methods", nargs="+", required=True, help="the first run is also run once to warm up")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument(
        "--smoke", action="store_true", help="every run at smoke size (cpt_lightning.testing.smoke), in seconds"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    from cpt_lightning.reproduce.protocols import load_protocol
    from cpt_lightning.reproduce.runs import execute_run, plan_runs

    try:
        from cpt_lightning.process_cache import process_cache
    except ImportError:  # a checkout from before the process cache
        process_cache = contextlib.nullcontext
    protocol = load_protocol(args.protocol)
    specs = []
    for method in args.methods:
        selected = protocol.select([args.dataset], [method], args.seeds, [args.setting])
        specs.extend(plan_runs(selected, Path(args.root)))
    if args.smoke:  # only this checkout's package has the smoke sizes
        from cpt_lightning.testing.smoke import smoke_overrides_for_runs

        overrides = smoke_overrides_for_runs(specs)
        specs = [dataclasses.replace(spec, overrides={**spec.overrides, **overrides}) for spec in specs]
        print(f"--smoke: every run with {overrides} (a check that the code runs, not a measurement)", file=sys.stderr)
    out = Path(tempfile.mkdtemp(prefix="profile_protocol_"))
    with process_cache():
        execute_run(specs[0], out / "warm-up")
        profile = cProfile.Profile()
        started, started_cpu = time.perf_counter(), time.process_time()
        profile.enable()
        for spec in specs:
            execute_run(spec, out / spec.run_id)
        profile.disable()
    print(f"profiled runs: {len(specs)}; wall {time.perf_counter() - started:.1f} s, "
          f"CPU {time.process_time() - started_cpu:.1f} s")  # fmt: skip
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
