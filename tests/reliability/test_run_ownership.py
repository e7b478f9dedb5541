"""Issue 17 item 3: a run owns its checkpoints (`checkpoints/ownership.py`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from cpt_lightning.cli import main

from .conftest import run_config, write_config

pytestmark = pytest.mark.slow


def _fit(config, *extra):
    return main(["fit", "--config", str(config), *extra])


def test_last_resumes_only_a_checkpoint_of_the_same_run(tiny_clip_dir, tmp_path, fault_log):
    root = tmp_path / "shared_root"
    first = write_config(tmp_path / "first.yaml", run_config(tiny_clip_dir, root))
    _fit(first)
    last = root / "checkpoints" / "last.ckpt"
    recorded = torch.load(last, weights_only=True)["cpt_run"]
    before = last.read_bytes()

    # Another run (another data seed) pointed at the same directory must not continue the first one.
    other = run_config(tiny_clip_dir, root)
    other["data"]["init_args"]["seed"] = 1
    other_file = write_config(tmp_path / "other.yaml", other)
    with pytest.raises(ValueError, match=rf"belongs to run {recorded['run']} .*data seed=0\)") as error:
        _fit(other_file, "--ckpt_path", "last")
    assert last.read_bytes() == before
    fault_log("`--ckpt_path last` in a directory whose last.ckpt another run wrote", error.value, root)

    # The same run resumes (here for one more epoch) from its own last.ckpt.
    resumed = _fit(first, "--ckpt_path", "last", "--trainer.max_epochs", "2")
    assert resumed.trainer.global_step == 2
    assert torch.load(last, weights_only=True)["cpt_run"] == recorded


def test_a_second_fit_into_a_directory_in_use_stops_at_its_start(tiny_clip_dir, tmp_path, fault_log):
    from cpt_lightning.checkpoints.ownership import RunIdentity, RunLock

    root = tmp_path / "busy_root"
    # What a fit running in another process holds while it trains (this process is alive, as that one is).
    running = RunLock(root / "checkpoints", RunIdentity(run="0123456789ab", seed=3, data_seed=0))
    running.acquire()
    config = write_config(tmp_path / "run.yaml", run_config(tiny_clip_dir, root))
    with pytest.raises(OSError, match=r"in use by run 0123456789ab .*overwrite each other's last.ckpt") as error:
        _fit(config)
    assert not (root / "checkpoints" / "last.ckpt").exists()
    assert not (root / "config.yaml").exists()  # stopped in `setup`, before the CLI saves its config
    fault_log("a second `cpt fit` into a checkpoint directory that a running fit uses", error.value, root)
    running.release()

    # Once that run has ended, the directory is free again and is released after the fit.
    _fit(config)
    assert (root / "checkpoints" / "last.ckpt").is_file()
    assert not (root / "checkpoints.cpt-run.lock").exists()
    assert sorted(path.name for path in (root / "checkpoints").iterdir()) == ["last.ckpt"]  # nothing of the lock


@pytest.mark.parametrize("dirpath", ["given", "derived"])
def test_a_fresh_fit_does_not_warn_that_its_checkpoint_directory_is_not_empty(tiny_clip_dir, tmp_path, dirpath):
    # The lock is taken in `setup` (a given `dirpath`) or at fit start (one Lightning derives), and
    # Lightning looks at the directory in between; a fresh run's directory holds nothing of its own yet.
    root = tmp_path / "fresh"
    config = run_config(tiny_clip_dir, root)
    checkpoint = config["trainer"]["callbacks"][0]["init_args"]
    checkpoint["save_top_k"] = 1  # Lightning checks the directory only for a callback that keeps checkpoints
    if dirpath == "derived":
        del checkpoint["dirpath"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = _fit(write_config(tmp_path / "run.yaml", config))
    assert Path(fit.trainer.checkpoint_callback.dirpath) == root / "checkpoints"
    assert [str(w.message) for w in caught if "exists and is not empty" in str(w.message)] == []
    # A second fit into that directory is warned about, as Lightning means it to be.
    with pytest.warns(UserWarning, match="exists and is not empty"):
        _fit(write_config(tmp_path / "run.yaml", config))
