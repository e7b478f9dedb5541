"""`cpt fit|test` end to end, and `--print_config` reproducing a run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar

from cpt_lightning.callbacks import ClusterAssignmentCallback
from cpt_lightning.cli import PROGRESS_BAR_REFRESH_RATE, main

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1] / "src"


def _config(tiny_clip_dir: Path, root: Path) -> dict:
    return {
        "seed_everything": 7,
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 2,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root),
            "callbacks": [
                {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True}}
            ],
        },
        "model": {
            "clip_name_or_path": str(tiny_clip_dir),
            "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05, "momentum": 0.9}},
        },
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {"classnames": ["cat", "dog", "sea lion"], "batch_size": 8},
        },
    }


@pytest.fixture(scope="module")
def fitted(tiny_clip_dir, tmp_path_factory):
    """One 2-epoch fit of the tiny CLIP, shared by the tests that read it: its config file and its CLI."""
    root = tmp_path_factory.mktemp("fitted")
    config_file = root / "run.yaml"
    config_file.write_text(yaml.safe_dump(_config(tiny_clip_dir, root / "run")))
    return config_file, main(["fit", "--config", str(config_file)])


def test_fit_then_test_from_last_checkpoint(fitted):
    config_file, fit = fitted
    last = config_file.parent / "run" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    assert fit.trainer.state.finished

    tested = main(["test", "--config", str(config_file), "--ckpt_path", str(last)])
    assert torch.equal(tested.model.prompt_learner.ctx, fit.model.prompt_learner.ctx)
    assert 0.0 <= tested.trainer.callback_metrics["test/acc"].item() <= 1.0


def test_print_config_fed_back_reproduces_the_run(fitted, tiny_clip_dir, tmp_path, capsys):
    config_file, first = fitted
    capsys.readouterr()
    with pytest.raises(SystemExit) as printed_and_exited:  # `--print_config` prints the config and exits
        main(["fit", "--config", str(config_file), "--print_config"])
    assert printed_and_exited.value.code in (None, 0)
    dumped = yaml.safe_load(capsys.readouterr().out)
    assert dumped["model"]["optimizer"]["init_args"]["lr"] == 0.05
    dumped["trainer"]["default_root_dir"] = str(tmp_path / "second")
    replay_file = tmp_path / "printed.yaml"
    replay_file.write_text(yaml.safe_dump(dumped))

    second = main(["fit", "--config", str(replay_file)])
    assert torch.equal(first.model.prompt_learner.ctx, second.model.prompt_learner.ctx)
    assert not torch.equal(first.model.prompt_learner.ctx, _initial_context(tiny_clip_dir))


def _initial_context(tiny_clip_dir: Path) -> torch.Tensor:
    from cpt_lightning.models import CPTModule

    return CPTModule(["cat", "dog", "sea lion"], clip_name_or_path=str(tiny_clip_dir)).prompt_learner.ctx.detach()


def test_console_scripts_exit_with_status_zero_after_a_run(tiny_clip_dir, tmp_path):
    # A console script calls sys.exit(entry()); anything but None or 0 is a failed command.
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    scripts = tomllib.loads((SRC.parent / "pyproject.toml").read_text())["project"]["scripts"]
    module_name, function_name = scripts["cpt"].split(":")
    entry = getattr(importlib.import_module(module_name), function_name)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(_config(tiny_clip_dir, tmp_path / "run")))
    argv = ["cpt", "test", "--config", str(config_file)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        assert entry() in (None, 0)


@pytest.mark.parametrize(
    ("trainer_overrides", "expected_refresh_rate"),
    [
        ({"enable_progress_bar": None}, PROGRESS_BAR_REFRESH_RATE),  # nothing configured: cpt's throttled bar
        (  # the user's own progress bar wins
            {
                "enable_progress_bar": None,
                "callbacks": [
                    {"class_path": "lightning.pytorch.callbacks.TQDMProgressBar", "init_args": {"refresh_rate": 3}}
                ],
            },
            3,
        ),
        ({"enable_progress_bar": False}, None),  # disabled stays disabled, and is no error
    ],
)
def test_progress_bar_redraws_every_ten_steps_unless_configured(
    tiny_clip_dir, tmp_path, trainer_overrides, expected_refresh_rate
):
    config = _config(tiny_clip_dir, tmp_path / "run")
    config["trainer"].update(trainer_overrides)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config))
    cli = main(["--config", str(config_file)], run=False)
    bars = [c for c in cli.trainer.callbacks if isinstance(c, ProgressBar)]
    assert [bar.refresh_rate for bar in bars] == ([] if expected_refresh_rate is None else [expected_refresh_rate])
    # The user's other callbacks and the forced ones are all still there.
    assert any(isinstance(c, ModelCheckpoint) for c in cli.trainer.callbacks)
    assert any(isinstance(c, ClusterAssignmentCallback) for c in cli.trainer.callbacks)
