"""Wall and CPU time of the test suite, like for like: the tests two checkouts share, run in each.

Collects the test ids of this checkout and of `--before` (another checkout of the project, e.g. a
`git worktree` of an older commit), runs the ids both have in each checkout (`--before` first), one
after the other in fresh processes with one torch thread, and prints one JSON line per checkout and
the ratio. The whole suite of this checkout can be timed as well (`--whole`). Each run uses its own
checkout's `src` (PYTHONPATH), so the same test ids exercise each checkout's code and tests.

    git worktree add /tmp/suite_before 0372e60
    python benchmarks/suite_cost.py --before /tmp/suite_before
    python benchmarks/suite_cost.py --before /tmp/suite_before --smoke   # two tests, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _environment(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout / "src"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def collect(checkout: Path) -> list[str]:
    """The test ids `pytest --collect-only` finds in `checkout`, in collection order."""
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=checkout, env=_environment(checkout), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line for line in listing.stdout.splitlines() if "::" in line]


def timed_run(checkout: Path, ids: list[str] | None, label: str) -> dict:
    """Run `ids` (None: the whole suite) in `checkout`; wall time, CPU time of pytest and its children."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(ids or []))
    selection = [] if ids is None else [f"@{listing.name}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=checkout, env=_environment(checkout), capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(listing.name).unlink()
    summary = next((line for line in reversed(result.stdout.splitlines()) if " in " in line), "")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"label": label, "checkout": str(checkout), "tests": len(ids) if ids is not None else None,
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "exit": result.returncode, "pytest": summary}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (the baseline)")
    parser.add_argument("--whole", action="store_true", help="also time this checkout's whole suite")
    parser.add_argument("--smoke", action="store_true", help="only two shared tests: a check that it runs")
    args = parser.parse_args()
    before, after = args.before.resolve(), REPO_ROOT
    after_ids = collect(after)
    shared = [test for test in collect(before) if test in set(after_ids)]
    if args.smoke:
        shared = [test for test in shared if "test_cluster_layout" in test][:2] or shared[:2]
        print(f"--smoke: {len(shared)} shared tests (a check that the code runs, not a measurement)")
    print(f"{len(shared)} tests in both checkouts ({len(after_ids)} here)")
    rows = [timed_run(before, shared, "before"), timed_run(after, shared, "after")]
    if args.whole:
        rows.append(timed_run(after, None, "after, whole suite"))
    for row in rows:
        print(json.dumps(row))
    for clock in ("wall_s", "cpu_s"):
        print(f"shared tests, after / before ({clock[:-2]}): {rows[1][clock] / max(rows[0][clock], 1e-9):.3f}")


if __name__ == "__main__":
    main()
