"""A fit killed with SIGKILL resumes from its last checkpoint and ends where an uninterrupted fit ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import cpt_in_process

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
METHODS = REPO / "configs" / "methods"
CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish"]
# 6 classes x 6 images / batch 4 = 9 batches an epoch; 2 epochs = 18 optimizer steps.


def _write_config(path: Path, clip_dir: Path, root: Path, extra_callbacks: list[dict]) -> Path:
    config = {
        "seed_everything": 3,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": 2,
            "deterministic": True,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "limit_val_batches": 0,
            "default_root_dir": str(root),
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "dirpath": str(root / "checkpoints"),
                        "every_n_train_steps": 1,
                        "save_top_k": 0,
                        "save_last": True,
                    },
                },
                *extra_callbacks,
            ],
        },
        "model": {
            "clip_name_or_path": str(clip_dir),
            "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05, "momentum": 0.9}},
        },
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {"classnames": CLASSNAMES, "train_per_class": 6, "batch_size": 4},
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _start_cpt(log: Path, *args: str) -> subprocess.Popen:
    """`cpt ARGS` started in a fresh process on one thread, its output to `log`: for the run that is
    killed, and for the resume that must read nothing but what the killed process left on disk."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "cpt_lightning.cli", *args]
    with log.open("w") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO)


def _wait(process: subprocess.Popen, log: Path, expect_killed: bool = False) -> None:
    returncode = process.wait()
    if expect_killed:
        assert returncode == -9, f"expected SIGKILL, got {returncode}:\n{log.read_text()[-3000:]}"
    else:
        assert returncode == 0, log.read_text()[-3000:]


def _cpt(log: Path, *args: str, expect_killed: bool = False) -> None:
    _wait(_start_cpt(log, *args), log, expect_killed)


def _final_state(root: Path) -> dict:
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)


def _last_candidates(directory: Path) -> list[str]:
    # What `--ckpt_path last` may pick: ModelCheckpoint's own pattern, last(-N).ckpt.
    return sorted(p.name for p in directory.iterdir() if re.match(r"^last(-\d+)?\.ckpt$", p.name))


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_fit(tiny_clip_dir, tmp_path):
    method = str(METHODS / "cpt.yaml")  # CPT: cluster assignment and the running image means resume too
    kill = [{"class_path": "helpers.kill_switch.KillAtStep", "init_args": {"step": 13}}]
    killed = _write_config(tmp_path / "killed.yaml", tiny_clip_dir, tmp_path / "killed", kill)
    killed_log = tmp_path / "killed.log"
    killed_run = _start_cpt(killed_log, "fit", "--config", str(killed), "--config", method)
    # Meanwhile the reference, never interrupted, in its own root: nothing but its result is shared.
    straight = _write_config(tmp_path / "straight.yaml", tiny_clip_dir, tmp_path / "straight", [])
    cpt_in_process("fit", "--config", str(straight), "--config", method)
    _wait(killed_run, killed_log, expect_killed=True)
    interrupted = _final_state(tmp_path / "killed")
    assert 0 < interrupted["global_step"] < 18  # really killed mid-run (epoch 2 of 2)
    assert interrupted["epoch"] == 1

    resume = _write_config(tmp_path / "resume.yaml", tiny_clip_dir, tmp_path / "killed", [])
    _cpt(tmp_path / "resume.log", "fit", "--config", str(resume), "--config", method, "--ckpt_path", "last")

    expected, resumed = _final_state(tmp_path / "straight"), _final_state(tmp_path / "killed")
    assert resumed["global_step"] == expected["global_step"] == 18
    for key in ("prompt_learner.ctx", "cluster_ids", "loss.terms.conv.class_image_means"):
        assert torch.equal(resumed["state_dict"][key], expected["state_dict"][key]), key


def test_kill_during_checkpoint_write_leaves_no_partial_checkpoint_for_resume(tiny_clip_dir, tmp_path):
    kill = [{"class_path": "helpers.kill_switch.KillDuringCheckpointWrite", "init_args": {"step": 5}}]
    config = _write_config(tmp_path / "run.yaml", tiny_clip_dir, tmp_path / "run", kill)
    _cpt(tmp_path / "run.log", "fit", "--config", str(config), expect_killed=True)

    checkpoints = tmp_path / "run" / "checkpoints"
    assert _last_candidates(checkpoints) == ["last.ckpt"]
    survivor = torch.load(checkpoints / "last.ckpt", weights_only=True)  # complete and loadable
    assert survivor["global_step"] == 5  # the one before the interrupted write
    assert [p.name for p in checkpoints.iterdir() if p.name.endswith(".partial")]  # the torn write, set aside

    resume = _write_config(tmp_path / "resume.yaml", tiny_clip_dir, tmp_path / "run", [])
    cpt_in_process("fit", "--config", str(resume), "--ckpt_path", "last")  # the killed process left only its files
    assert _final_state(tmp_path / "run")["global_step"] == 18
    assert not [p for p in checkpoints.iterdir() if p.name.endswith(".partial")]  # cleaned by the next save
