"""cpt-tune on a tiny CLIP: the same budget per method, validation only, deterministic for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from threadpoolctl import threadpool_limits

from cpt_lightning.cli import main as cpt_main
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.tuning import SearchSpace, TuningSetup, tune_method
from cpt_lightning.tuning.cli import main as tune_cli
from cpt_lightning.tuning.tuner import ValidationHMPruning

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish"]


def _run_config(tmp_path: Path, clip_dir: Path) -> Path:
    config = {
        "model": {
            "clip_name_or_path": str(clip_dir),
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.0}},
        },
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {
                "classnames": CLASSNAMES,
                "train_per_class": 2,
                "eval_per_class": 2,
                "batch_size": 6,
                "subsample": "base_to_new",
            },
        },
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": 1,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _space(tmp_path: Path, method: str) -> SearchSpace:
    preset = tmp_path / f"{method}_preset.yaml"
    terms = [{"class_path": "cpt_lightning.losses.CrossEntropyTerm"}]
    params = {
        "lr": {"path": "model.optimizer.init_args.lr", "type": "float", "low": 0.001, "high": 0.1, "log": True},
        "epochs": {"path": "trainer.max_epochs", "type": "int", "low": 1, "high": 2},
    }
    if method == "npt":
        terms.append({"class_path": "cpt_lightning.losses.EtfSeparationTerm", "init_args": {"variant": "global"}})
        params["w"] = {"path": "model.loss_terms.1.init_args.weight", "type": "float", "low": 0.01, "high": 1.0}
    preset.write_text(yaml.safe_dump({"model": {"loss_terms": terms}}))
    return SearchSpace.from_dict({"method": method, "preset": str(preset), "params": params})


@pytest.fixture
def no_test_loader(monkeypatch):
    def forbidden(self):
        raise AssertionError("cpt-tune built a test loader")

    monkeypatch.setattr(GeneratedDataModule, "test_dataloader", forbidden)


def _records(out: Path, method: str) -> list[dict]:
    trials = json.loads((out / f"{method}.trials.json").read_text())["trials"]
    return [{key: trial[key] for key in ("number", "state", "params", "value", "intermediate")} for trial in trials]


@pytest.mark.slow
def test_same_seed_gives_the_same_trials_and_every_method_the_same_budget(tiny_clip_dir, tmp_path, no_test_loader):
    run = _run_config(tmp_path, tiny_clip_dir)
    setup = TuningSetup(run_configs=[str(run)], trials=2, sampler_seed=7, data_seeds=[1001], study_seeds=[1, 2, 3])
    spaces = [_space(tmp_path, "coop"), _space(tmp_path, "npt")]
    with threadpool_limits(1):
        first = {space.method: tune_method(space, setup, tmp_path / "a") for space in spaces}
        again = tune_method(spaces[1], setup, tmp_path / "b")
    assert {method: len(result.trials) for method, result in first.items()} == {"coop": 2, "npt": 2}
    assert _records(tmp_path / "a", "npt") == _records(tmp_path / "b", "npt")
    assert again.best_params == first["npt"].best_params
    assert (tmp_path / "a" / "npt.yaml").read_text() == (tmp_path / "b" / "npt.yaml").read_text()
    for trial in first["npt"].trials:
        assert 0.0 <= trial["value"] <= 100.0 and trial["state"] == "COMPLETE"
        assert set(trial["params"]) == {"lr", "epochs", "w"}


@pytest.mark.slow
def test_the_tuned_preset_configures_the_study_run(tiny_clip_dir, tmp_path, no_test_loader):
    run = _run_config(tmp_path, tiny_clip_dir)
    setup = TuningSetup(run_configs=[str(run)], trials=1, data_seeds=[1001], study_seeds=[1])
    with threadpool_limits(1):
        result = tune_method(_space(tmp_path, "npt"), setup, tmp_path / "out")
    cli = cpt_main(["--config", str(run), "--config", str(result.preset_path)], run=False)
    assert cli.model.loss.terms["etf"].weight == pytest.approx(result.best_params["w"])
    assert cli.trainer.max_epochs == result.best_params["epochs"]
    assert cli.model.optimizer_factory(torch.nn.Linear(1, 1).parameters()).defaults["lr"] == pytest.approx(
        result.best_params["lr"]
    )


def test_tuning_seeds_that_the_study_reports_are_refused_before_any_fit(tmp_path):
    setup = TuningSetup(run_configs=["missing.yaml"], trials=1, data_seeds=[2, 1001], study_seeds=[1, 2, 3])
    with pytest.raises(ValueError, match=r"Tuning seeds \[2\] are also study seeds"):
        tune_method(_space(tmp_path, "coop"), setup, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(yaml.safe_dump({"name": "p", "datasets": {}, "methods": {}, "seeds": [1001]}))
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"method": "coop", "preset": "x.yaml", "params": {"lr": {"path": "model.lr",
                                     "type": "float", "low": 0.1, "high": 1.0}}}))  # fmt: skip
    with pytest.raises(ValueError, match="also study seeds"):
        tune_cli(["--run-config", "r.yaml", "--space", str(space), "--trials", "1", "--out", str(tmp_path / "o"),
                  "--protocol", str(protocol)])  # fmt: skip


@pytest.mark.slow
def test_pruned_trials_stop_early_are_recorded_and_all_pruned_is_an_error(tiny_clip_dir, tmp_path, monkeypatch):
    import optuna

    # A pruner that prunes every trial at its first report (no HM reaches 101 %).
    monkeypatch.setattr(optuna.pruners, "MedianPruner", lambda **_: optuna.pruners.ThresholdPruner(lower=101.0))
    run = _run_config(tmp_path, tiny_clip_dir)
    setup = TuningSetup(run_configs=[str(run)], trials=2, data_seeds=[1001], study_seeds=[1])
    space = _space(tmp_path, "coop")
    space.params["epochs"].low, space.params["epochs"].high = 2, 3
    with threadpool_limits(1), pytest.raises(RuntimeError, match="every one of the 2 trials"):
        tune_method(space, setup, tmp_path / "out")
    trials = json.loads((tmp_path / "out" / "coop.trials.json").read_text())["trials"]
    assert [trial["state"] for trial in trials] == ["PRUNED", "PRUNED"]
    assert all(list(trial["intermediate"]) == ["0"] for trial in trials)  # stopped after epoch 0 of >= 2
    assert not (tmp_path / "out" / "coop.yaml").exists()


@pytest.mark.slow
def test_no_trial_is_pruned_before_the_warm_up_epochs(tiny_clip_dir, tmp_path, monkeypatch):
    import optuna

    # The median pruner's warm-up rule on a pruner that would prune every report: only reports at or
    # after `n_warmup_steps` epochs may stop a trial, so 2-epoch trials finish and 3-epoch ones stop at 3.
    seen = {}

    def pruner(n_startup_trials: int, n_warmup_steps: int):
        seen.update(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
        return optuna.pruners.ThresholdPruner(lower=101.0, n_warmup_steps=n_warmup_steps)

    monkeypatch.setattr(optuna.pruners, "MedianPruner", pruner)
    run = _run_config(tmp_path, tiny_clip_dir)
    setup = TuningSetup(
        run_configs=[str(run)], trials=2, data_seeds=[1001], study_seeds=[1], pruner_startup_trials=0,
        pruner_warmup_epochs=2,
    )  # fmt: skip
    for epochs in (2, 3):
        space = _space(tmp_path, "coop")
        space.params["epochs"].low = space.params["epochs"].high = epochs
        with threadpool_limits(1):
            if epochs == 2:
                tune_method(space, setup, tmp_path / f"out{epochs}")
            else:
                with pytest.raises(RuntimeError, match="every one of the 2 trials"):
                    tune_method(space, setup, tmp_path / f"out{epochs}")
        assert seen == {"n_startup_trials": 0, "n_warmup_steps": 2}
        summary = json.loads((tmp_path / f"out{epochs}" / "coop.trials.json").read_text())
        assert summary["pruner"] == {"name": "MedianPruner", "n_startup_trials": 0, "n_warmup_steps": 2}
        for trial in summary["trials"]:
            assert len(trial["intermediate"]) == epochs  # never stopped before epoch 2
            assert trial["state"] == ("COMPLETE" if epochs == 2 else "PRUNED")


def test_pruner_settings_come_from_the_command_line_and_must_not_be_negative():
    from cpt_lightning.tuning.cli import build_parser

    args = build_parser().parse_args(
        ["--run-config", "r.yaml", "--space", "s.yaml", "--trials", "1", "--out", "o", "--pruner-warmup-epochs", "5"]
    )
    assert (args.pruner_startup_trials, args.pruner_warmup_epochs) == (2, 5)
    with pytest.raises(ValueError, match="warm-up epochs must be >= 0"):
        TuningSetup(run_configs=["r.yaml"], trials=1, pruner_warmup_epochs=-1)


class _Trial:
    def __init__(self, prune_at: int) -> None:
        self.reported: list[tuple[int, float]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return len(self.reported) >= self.prune_at


class _Trainer:
    def __init__(self, epoch: int, hm: float) -> None:
        self.sanity_checking, self.current_epoch, self.should_stop = False, epoch, False
        self.callback_metrics = {"val/hm": torch.tensor(hm)}


def test_pruning_reports_each_epochs_validation_hm_and_stops_when_told():
    trial = _Trial(prune_at=2)
    pruning = ValidationHMPruning(trial)
    first, second = _Trainer(0, 0.25), _Trainer(1, 0.5)
    pruning.on_validation_end(first, None)
    assert trial.reported == [(0, 25.0)] and not first.should_stop and not pruning.pruned
    pruning.on_validation_end(second, None)
    assert trial.reported == [(0, 25.0), (1, 50.0)] and second.should_stop and pruning.pruned
    assert pruning.last_epoch == 1
