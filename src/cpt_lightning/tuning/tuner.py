"""Tune one method's knobs on validation HM: Optuna's seeded TPE sampler, median pruning per epoch.

Every trial writes its candidate preset (a `--config` file, see `search_space`), fits it on each
run config and tuning seed through the `cpt` CLI and scores the mean validation HM of the last
epoch, the epoch the study evaluates. Only `trainer.fit` runs: it reads the training and
validation splits; no test loader is ever built. The tuning seeds must differ from the study's
(`check_tuning_seeds`), so the reported seeds' samples never steer the tuned values.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import yaml

from cpt_lightning.atomic_write import atomic_write
from cpt_lightning.metrics.keys import BASE_TO_NEW_SETS, harmonic_mean_key
from cpt_lightning.reproduce.runs import TRAINING_SEED_KEY
from cpt_lightning.tuning.search_space import SearchSpace

HM_KEY = harmonic_mean_key("val")


def require_optuna():
    """Import Optuna, or say which extra installs it."""
    try:
        import optuna
    except ImportError as error:
        raise ImportError(
            "cpt-tune needs Optuna, which is an optional dependency: `pip install 'cpt-lightning[tune]'` "
            "(or `pip install optuna`)."
        ) from error
    return optuna


@dataclass
class TuningSetup:
    """What every method of one tuning run shares: the budget, the data, the seeds.

    Args:
        run_configs: run configs (trainer, model, data) to tune on; the score is the mean over them.
        trials: trials per method (pruned trials count), the same for every method.
        sampler_seed: the TPE sampler's seed.
        data_seeds: sampling seeds of the tuning fits (`seed_everything` and `data.init_args.seed`).
        study_seeds: seeds the study reports; `data_seeds` must avoid them.
        overrides: `KEY=VALUE` overrides for every fit (e.g. a trainer config's accelerator).
        root: base of relative config paths (the repository).
        pruner_startup_trials: trials that run to the end before pruning starts.
        pruner_warmup_epochs: epochs (validation reports) a trial always runs before it may be pruned.
            A trial is compared with the others' HM at the same epoch, which favours schedules that
            rise fast: with few warm-up epochs a slow-starting candidate (a low learning rate, a long
            warm-up) is cut before it is judged; raise it towards the run's `max_epochs` to compare
            trials nearer their end.
    """

    run_configs: list[str]
    trials: int
    sampler_seed: int = 0
    data_seeds: list[int] = field(default_factory=lambda: [1001])
    study_seeds: list[int] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    root: Path = Path(".")
    pruner_startup_trials: int = 2
    pruner_warmup_epochs: int = 1

    def __post_init__(self) -> None:
        if self.pruner_startup_trials < 0 or self.pruner_warmup_epochs < 0:
            raise ValueError(
                f"cpt-tune: the pruner's start-up trials and warm-up epochs must be >= 0; got "
                f"{self.pruner_startup_trials} and {self.pruner_warmup_epochs}."
            )

    @property
    def pruner_settings(self) -> dict[str, Any]:
        """The median pruner's arguments, as recorded beside every tuning run."""
        return {"n_startup_trials": self.pruner_startup_trials, "n_warmup_steps": self.pruner_warmup_epochs}


def check_tuning_seeds(data_seeds: list[int], study_seeds: list[int]) -> None:
    """Refuse tuning seeds that the study reports: tuned values must not have seen the reported samples."""
    shared = sorted(set(data_seeds) & set(study_seeds))
    if shared:
        raise ValueError(
            f"Tuning seeds {shared} are also study seeds {sorted(study_seeds)}; tune on other seeds "
            "(e.g. --data-seeds 1001 1002) so the reported runs' samples never choose the settings."
        )
    if not data_seeds:
        raise ValueError("cpt-tune needs at least one tuning seed (--data-seeds).")


class ValidationHMPruning(pl.Callback):
    """Reports each epoch's validation HM (percent, like the objective) to the trial and stops the fit
    when the pruner says so."""

    def __init__(self, trial) -> None:
        self.trial = trial
        self.pruned = False
        self.last_epoch: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or HM_KEY not in trainer.callback_metrics:
            return
        self.last_epoch = trainer.current_epoch
        self.trial.report(100.0 * float(trainer.callback_metrics[HM_KEY]), step=trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned = True
            trainer.should_stop = True


def _cli_args(run_config: str, trial_config: Path, seed: int, run_dir: Path, setup: TuningSetup) -> list[str]:
    config = run_config if Path(run_config).is_absolute() else str(setup.root / run_config)
    values = {
        **setup.overrides,
        "seed_everything": seed,
        TRAINING_SEED_KEY: seed,
        "trainer.default_root_dir": str(run_dir),
        # Every epoch validates, so the pruner sees a curve and the last epoch is always scored.
        "trainer.check_val_every_n_epoch": 1,
        "trainer.num_sanity_val_steps": 0,
    }
    args = ["--config", config, "--config", str(trial_config)]
    return args + [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in values.items()]


def fit_validation_hm(
    run_config: str, trial_config: Path, seed: int, run_dir: Path, setup: TuningSetup, pruning: pl.Callback | None
) -> float:
    """Fit one candidate through the `cpt` CLI and return its last epoch's validation HM (percent)."""
    from cpt_lightning.cli import main

    cli = main(_cli_args(run_config, trial_config, seed, run_dir, setup), run=False)
    eval_sets = set(getattr(cli.datamodule, "eval_classnames", {}) or {})
    if not set(BASE_TO_NEW_SETS) <= eval_sets:
        raise ValueError(
            f"{run_config}: cpt-tune scores validation HM, which needs base-to-new evaluation sets "
            f"{BASE_TO_NEW_SETS}; the data module has {sorted(eval_sets)}. Set `data.init_args.subsample: base_to_new`."
        )
    if pruning is not None:
        cli.trainer.callbacks.append(pruning)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return 100.0 * float(cli.trainer.callback_metrics[HM_KEY])


@dataclass
class TuningResult:
    """One method's study: every trial's record, the best values and where the tuned preset went."""

    method: str
    trials: list[dict[str, Any]]
    best_params: dict[str, Any]
    best_value: float
    preset_path: Path


def tune_method(space: SearchSpace, setup: TuningSetup, out_dir: Path, command: str = "") -> TuningResult:
    """Run `setup.trials` trials of `space` and write `<method>.yaml` (the tuned preset) and
    `<method>.trials.json` (every trial) under `out_dir`."""
    optuna = require_optuna()
    check_tuning_seeds(setup.data_seeds, setup.study_seeds)
    if setup.trials < 1:
        raise ValueError(f"cpt-tune needs at least one trial per method; got trials={setup.trials}.")
    preset = space.load_preset(setup.root)
    space.check_against(preset)
    trial_root = out_dir / "trials" / space.method

    def objective(trial) -> float:
        values = {name: spec.suggest(trial, name) for name, spec in space.params.items()}
        trial_dir = trial_root / f"trial{trial.number:03d}"
        trial_config = trial_dir / "config.yaml"
        trial_dir.mkdir(parents=True, exist_ok=True)
        trial_config.write_text(yaml.safe_dump(space.config_for(preset, values), sort_keys=False))
        started = time.perf_counter()
        pruning = ValidationHMPruning(trial)
        scores = []
        for index, (run_config, seed) in enumerate(
            (run_config, seed) for run_config in setup.run_configs for seed in setup.data_seeds
        ):
            run_dir = trial_dir / f"run{index}"
            scores.append(
                fit_validation_hm(run_config, trial_config, seed, run_dir, setup, pruning if index == 0 else None)
            )
            if pruning.pruned:
                trial.set_user_attr("seconds", time.perf_counter() - started)
                raise optuna.TrialPruned(f"validation HM {scores[-1]:.2f} at epoch {pruning.last_epoch}")
        trial.set_user_attr("val_hm_per_run", scores)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        return sum(scores) / len(scores)

    study = optuna.create_study(
        study_name=space.method,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=setup.sampler_seed),
        pruner=optuna.pruners.MedianPruner(**setup.pruner_settings),
    )
    study.optimize(objective, n_trials=setup.trials)
    records = [
        {
            "number": trial.number,
            "state": trial.state.name,
            "params": trial.params,
            "value": trial.value,
            "intermediate": {str(step): value for step, value in sorted(trial.intermediate_values.items())},
            "user_attrs": trial.user_attrs,
        }
        for trial in study.trials
    ]
    completed = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    best = max(completed, key=lambda trial: trial.value) if completed else None
    summary = {
        "method": space.method,
        "search_space": space.source,
        "preset": space.preset,
        "run_configs": setup.run_configs,
        "trials_budget": setup.trials,
        "sampler": {"name": "TPESampler", "seed": setup.sampler_seed},
        "pruner": {"name": "MedianPruner", **setup.pruner_settings},
        "data_seeds": setup.data_seeds,
        "study_seeds_avoided": setup.study_seeds,
        "objective": f"mean last-epoch {HM_KEY} (percent) over run configs x data seeds",
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params},
        "trials": records,
        "command": command,
    }
    with atomic_write(out_dir / f"{space.method}.trials.json", "w") as stream:
        json.dump(summary, stream, indent=2, sort_keys=True)
    if best is None:
        raise RuntimeError(
            f"cpt-tune: every one of the {setup.trials} trials of {space.method!r} was pruned, so there is no "
            f"tuned preset; see {out_dir / (space.method + '.trials.json')}. Raise --trials, --pruner-startup-trials "
            "or --pruner-warmup-epochs."
        )
    preset_path = out_dir / f"{space.method}.yaml"
    write_tuned_preset(preset_path, space.config_for(preset, best.params), space, setup, best.number, command)
    return TuningResult(space.method, records, dict(best.params), float(best.value), preset_path)


def write_tuned_preset(
    path: Path, config: dict[str, Any], space: SearchSpace, setup: TuningSetup, best_trial: int, command: str
) -> None:
    """The tuned `--config` file, with a header saying how it was made and where its trial record is."""
    header = [
        f"# Tuned preset of method {space.method!r}, written by cpt-tune (do not edit by hand; re-tune instead).",
        f"#   {command}" if command else "#   (cpt_lightning.tuning.tune_method)",
        f"# Search space {space.source} over preset {space.preset}; {setup.trials} trials, TPE seed "
        f"{setup.sampler_seed}, tuning seeds {setup.data_seeds}; best trial #{best_trial} by validation HM.",
        f"# Every trial: {path.with_name(path.stem + '.trials.json').name}. Use as a `--config` after the run config.",
    ]
    with atomic_write(path, "w") as stream:
        stream.write("\n".join(header) + "\n" + yaml.safe_dump(config, sort_keys=False))
