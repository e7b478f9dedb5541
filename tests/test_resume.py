"""A fit killed with SIGKILL resumes from its last checkpoint and ends where an uninterrupted fit ends."""

from __future__ import annotations

import multiprocessing
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


def _killed_in_fork(log: Path, *args: str) -> multiprocessing.Process:
    """`cpt ARGS` in a child forked from this process, its output to `log`: for a run that kills itself.

    Forked rather than started afresh: the run depends on nothing in this process's memory but what its
    config builds, and the run that checks what it left (the resume) is a fresh process, so the child
    need not import everything again."""

    def run() -> None:
        with log.open("w") as output:
            os.dup2(output.fileno(), 1)
            os.dup2(output.fileno(), 2)
            cpt_in_process(*args)

    process = multiprocessing.get_context("fork").Process(target=run)
    process.start()
    return process


def _wait_killed(process: multiprocessing.Process, log: Path) -> None:
    process.join()
    assert process.exitcode == -9, f"expected SIGKILL, got {process.exitcode}:\n{log.read_text()[-3000:]}"


def _cpt_fresh_process(log: Path, *args: str) -> None:
    """`cpt ARGS` in a fresh process on one thread, its output to `log`: for the resume, which must read
    nothing but what the killed process left on disk."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "cpt_lightning.cli", *args]
    with log.open("w") as output:
        returncode = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO).returncode
    assert returncode == 0, log.read_text()[-3000:]


def _final_state(root: Path) -> dict:
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)


def _last_candidates(directory: Path) -> list[str]:
    # What `--ckpt_path last` may pick: ModelCheckpoint's own pattern, last(-N).ckpt.
    return sorted(p.name for p in directory.iterdir() if re.match(r"^last(-\d+)?\.ckpt$", p.name))


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_fit(tiny_clip_dir, tmp_path):
    method = str(METHODS / "cpt.yaml")  # CPT: cluster assignment and the running image means resume too
    kill = [{"class_path": "tests.helpers.kill_switch.KillAtStep", "init_args": {"step": 13}}]
    killed = _write_config(tmp_path / "killed.yaml", tiny_clip_dir, tmp_path / "killed", kill)
    killed_log = tmp_path / "killed.log"
    killed_run = _killed_in_fork(killed_log, "fit", "--config", str(killed), "--config", method)
    # Meanwhile the reference, never interrupted, in its own root: nothing but its result is shared.
    straight = _write_config(tmp_path / "straight.yaml", tiny_clip_dir, tmp_path / "straight", [])
    cpt_in_process("fit", "--config", str(straight), "--config", method)
    _wait_killed(killed_run, killed_log)
    interrupted = _final_state(tmp_path / "killed")
    assert 0 < interrupted["global_step"] < 18  # really killed mid-run (epoch 2 of 2)
    assert interrupted["epoch"] == 1

    resume = _write_config(tmp_path / "resume.yaml", tiny_clip_dir, tmp_path / "killed", [])
    resume_args = ("fit", "--config", str(resume), "--config", method, "--ckpt_path", "last")
    _cpt_fresh_process(tmp_path / "resume.log", *resume_args)

    expected, resumed = _final_state(tmp_path / "straight"), _final_state(tmp_path / "killed")
    assert resumed["global_step"] == expected["global_step"] == 18
    for key in ("prompt_learner.ctx", "cluster_ids", "loss.terms.conv.class_image_means"):
        assert torch.equal(resumed["state_dict"][key], expected["state_dict"][key]), key


def test_kill_during_checkpoint_write_leaves_no_partial_checkpoint_for_resume(tiny_clip_dir, tmp_path):
    kill = [{"class_path": "tests.helpers.kill_switch.KillDuringCheckpointWrite", "init_args": {"step": 5}}]
    config = _write_config(tmp_path / "run.yaml", tiny_clip_dir, tmp_path / "run", kill)
    _wait_killed(_killed_in_fork(tmp_path / "run.log", "fit", "--config", str(config)), tmp_path / "run.log")

    checkpoints = tmp_path / "run" / "checkpoints"
    assert _last_candidates(checkpoints) == ["last.ckpt"]
    survivor = torch.load(checkpoints / "last.ckpt", weights_only=True)  # complete and loadable
    assert survivor["global_step"] == 5  # the one before the interrupted write
    assert [p.name for p in checkpoints.iterdir() if p.name.endswith(".partial")]  # the torn write, set aside

    resume = _write_config(tmp_path / "resume.yaml", tiny_clip_dir, tmp_path / "run", [])
    cpt_in_process("fit", "--config", str(resume), "--ckpt_path", "last")  # the killed process left only its files
    assert _final_state(tmp_path / "run")["global_step"] == 18
    assert not [p for p in checkpoints.iterdir() if p.name.endswith(".partial")]  # cleaned by the next save
