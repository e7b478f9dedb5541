"""`cpt-reproduce PROTOCOL`: run a protocol's unfinished runs, then write its table (Markdown and CSV)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from cpt_lightning.reproduce.protocols import builtin_protocols, load_protocol
from cpt_lightning.reproduce.runs import is_finished, missing_config_files, plan_runs, run_protocol, unfinished_runs
from cpt_lightning.reproduce.slurm import write_slurm_array
from cpt_lightning.reproduce.table import write_tables

log = logging.getLogger(__name__)


def _override(text: str) -> tuple[str, object]:
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"an override is KEY=VALUE (e.g. trainer.max_epochs=5); got {text!r}.")
    return key, yaml.safe_load(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpt-reproduce",
        description="Run a protocol (datasets x settings x methods x seeds), skipping finished runs, and "
        "write the paper-style table. Built-in protocols: " + ", ".join(builtin_protocols()) + "; or a YAML file.",
    )
    parser.add_argument("protocol", help="a built-in protocol, a protocol YAML file or preset (cpt:world/protocol)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default: runs)")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="base of relative config paths (default: .); a `configs/...` file missing there is the packaged preset",
    )
    parser.add_argument("--datasets", nargs="+", help="only these datasets")
    parser.add_argument("--methods", nargs="+", help="only these methods")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    parser.add_argument("--settings", nargs="+", help="only these settings (e.g. tau=0.25, 4-shot)")
    parser.add_argument("--config", action="append", default=[], help="a config applied to every run (repeatable)")
    parser.add_argument(
        "--trainer", action="append", default=[], help="a `trainer:` file for every run, e.g. configs/trainer/cpu.yaml"
    )
    parser.add_argument(
        "--override", action="append", default=[], type=_override, help="KEY=VALUE for every run (repeatable)"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="run in this process (faster start; no DDP, no isolation)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs at once, each pinned to its own GPU(s) or CPU cores (default: 1)"
    )
    parser.add_argument(
        "--slurm", type=Path, metavar="SCRIPT", help="write a SLURM job-array script (one unfinished run per task)"
    )
    parser.add_argument(
        "--sbatch", action="append", default=[], help="an #SBATCH option for --slurm, e.g. --sbatch=--gres=gpu:1"
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and whether they are finished")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from finished runs")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cpt-reproduce` / `python -m cpt_lightning.reproduce`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    protocol = load_protocol(args.protocol).select(args.datasets, args.methods, args.seeds, args.settings)
    protocol.configs = [*protocol.configs, *args.config, *({"trainer": path} for path in args.trainer)]
    protocol.overrides = {**protocol.overrides, **dict(args.override)}
    out_dir = args.out / protocol.name
    if args.dry_run:
        unrunnable = 0
        for spec in plan_runs(protocol, args.root):
            missing = missing_config_files([spec])
            unrunnable += bool(missing)
            state = "finished" if is_finished(spec, out_dir / spec.run_id) else "to run"
            print(f"{spec.run_id}: {f'cannot run, missing {missing}' if missing else state}")
        if unrunnable:
            log.error("%d runs name config files that do not exist (see above); --root is %s.", unrunnable, args.root)
            return 1
        return 0
    if args.jobs < 1:
        raise SystemExit(f"cpt-reproduce: --jobs must be >= 1, got {args.jobs}.")
    if args.slurm is not None:
        unfinished, finished = unfinished_runs(protocol, out_dir, args.root)
        specs = [(spec, out_dir / spec.run_id) for spec in unfinished]
        script = write_slurm_array(specs, out_dir, args.slurm, args.sbatch)
        log.info("%s: %d array tasks (%d runs already finished). Submit: sbatch %s", script, len(specs),
                 len(finished), script)  # fmt: skip
        return 0
    if not args.table_only:
        executed, skipped = run_protocol(protocol, out_dir, args.root, in_process=args.in_process, jobs=args.jobs)
        log.info("%d runs executed, %d already finished.", len(executed), len(skipped))
    markdown_path, csv_path = write_tables(out_dir)
    log.info("Table written to %s and %s.", markdown_path, csv_path)
    return 0
