"""`cpt-tune`: tune methods' own knobs on validation HM, the same trial budget for each, and write tuned presets."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from cpt_lightning.reproduce.cli import _override
from cpt_lightning.reproduce.protocols import SEEDS, load_protocol
from cpt_lightning.tuning.search_space import load_search_space
from cpt_lightning.tuning.tuner import TuningSetup, require_optuna, tune_method

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpt-tune",
        description="Tune each method's own knobs (search spaces as YAML, configs/tuning/) on the validation "
        "split only, with the same number of trials per method, and write one tuned preset per method.",
    )
    parser.add_argument("--run-config", action="append", required=True, help="a run config to tune on (repeatable)")
    parser.add_argument("--space", action="append", required=True, help="a search-space YAML (repeatable)")
    parser.add_argument("--trials", type=int, required=True, help="trials per method (the same for all)")
    parser.add_argument("--sampler-seed", type=int, default=0, help="the TPE sampler's seed (default 0)")
    parser.add_argument(
        "--data-seeds", type=int, nargs="+", default=[1001], help="tuning seeds, never the study's (default 1001)"
    )
    parser.add_argument(
        "--protocol",
        action="append",
        default=[],
        help="a study protocol whose seeds the tuning seeds must avoid (repeatable; default: the built-in seeds)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for <method>.yaml and <method>.trials.json")
    parser.add_argument("--root", type=Path, default=Path("."), help="base of relative config paths (default: .)")
    parser.add_argument(
        "--override", action="append", default=[], type=_override, help="KEY=VALUE for every fit (repeatable)"
    )
    parser.add_argument(
        "--pruner-startup-trials", type=int, default=2, help="trials run to the end before pruning starts (default 2)"
    )
    parser.add_argument(
        "--pruner-warmup-epochs",
        type=int,
        default=1,
        help="epochs every trial runs before it may be pruned (default 1; towards max_epochs judges trials nearer "
        "their end)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cpt-tune` / `python -m cpt_lightning.tuning.cli`."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spaces = [load_search_space(path) for path in args.space]  # every file checked before any fit
    methods = [space.method for space in spaces]
    if len(set(methods)) != len(methods):
        raise SystemExit(f"cpt-tune: two search spaces tune the same method ({methods}); their presets would collide.")
    study_seeds = sorted({s for path in args.protocol for s in load_protocol(path).seeds} or set(SEEDS))
    setup = TuningSetup(
        run_configs=list(args.run_config),
        trials=args.trials,
        sampler_seed=args.sampler_seed,
        data_seeds=list(args.data_seeds),
        study_seeds=study_seeds,
        overrides=dict(args.override),
        root=args.root,
        pruner_startup_trials=args.pruner_startup_trials,
        pruner_warmup_epochs=args.pruner_warmup_epochs,
    )
    command = "cpt-tune " + shlex.join(argv)
    for space in spaces:
        result = tune_method(space, setup, args.out, command)
        log.info("%s: best validation HM %.2f with %s -> %s", space.method, result.best_value, result.best_params,
                 result.preset_path)  # fmt: skip
    return 0


def console_main() -> None:
    """The `cpt-tune` console script (exit status 0 on success)."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
