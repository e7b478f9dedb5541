"""Issue 18: a checkpoint saved before CoOp's `n_ctx` was renamed `n_ctx_text` still loads, every way.

The old checkpoint is the current one with its hyper-parameters (and, for `--ckpt_path last`, its
recorded run identity) rewritten by hand to the old spelling; whatever loads it must predict
exactly what the original predicts.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch
import yaml

from cpt_lightning.checkpoints.migration import CheckpointMigrationError, migrate_hyper_parameters
from cpt_lightning.checkpoints.ownership import RunIdentity
from cpt_lightning.cli import DATA_LINKS, main
from cpt_lightning.models import CPTModule

from .conftest import write_config

pytestmark = pytest.mark.slow

COOP = "cpt_lightning.models.CoOpPromptLearner"


def _last(config):
    return config.parent / "run" / "checkpoints" / "last.ckpt"


def _spelled_before_the_rename(checkpoint: dict) -> dict:
    old = copy.deepcopy(checkpoint)
    init_args = old["hyper_parameters"]["prompt_learner"]["init_args"]
    init_args["n_ctx"] = init_args.pop("n_ctx_text")
    return old


def _images() -> torch.Tensor:
    return torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _migration_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "option names cpt has since renamed" in r.getMessage()]


@pytest.fixture
def old_checkpoint(trained_run, tmp_path):
    checkpoint = torch.load(_last(trained_run), weights_only=True)
    assert checkpoint["hyper_parameters"]["prompt_learner"]["init_args"]["n_ctx_text"] == 8  # not the default 4
    path = tmp_path / "before_rename.ckpt"
    torch.save(_spelled_before_the_rename(checkpoint), path)
    return path


def test_the_rename_rule_on_plain_hyper_parameters():
    saved = {"clip_name_or_path": "clip", "prompt_learner": {"class_path": COOP, "init_args": {"n_ctx": 8}}}
    migrated, notes = migrate_hyper_parameters(saved, "run.ckpt")
    respelled = {"class_path": COOP, "init_args": {"n_ctx_text": 8}}
    assert migrated == {"clip_name_or_path": "clip", "prompt_learner": respelled}
    assert notes == ["n_ctx=8 as n_ctx_text"]
    assert saved["prompt_learner"]["init_args"] == {"n_ctx": 8}  # the caller's dict is left as it was
    # Another host (IVLP always said n_ctx_text) and a current checkpoint are left alone.
    ivlp = {"prompt_learner": {"class_path": "cpt_lightning.models.IVLPPromptLearner", "init_args": {"n_ctx": 3}}}
    assert migrate_hyper_parameters(ivlp, "run.ckpt") == (ivlp, [])
    current = {"prompt_learner": {"class_path": COOP, "init_args": {"n_ctx_text": 8}}}
    assert migrate_hyper_parameters(current, "run.ckpt") == (current, [])
    # Both spellings with one value agree; with two values either could be the trained one.
    both = {"prompt_learner": {"class_path": COOP, "init_args": {"n_ctx": 8, "n_ctx_text": 8}}}
    assert migrate_hyper_parameters(both, "run.ckpt")[0] == current
    both["prompt_learner"]["init_args"]["n_ctx_text"] = 4
    with pytest.raises(CheckpointMigrationError, match=r"run.ckpt saves .*n_ctx=8 and its new name n_ctx_text=4"):
        migrate_hyper_parameters(both, "run.ckpt")


def test_load_from_checkpoint_reads_the_old_name_and_predicts_as_the_original(trained_run, old_checkpoint, caplog):
    original = CPTModule.load_from_checkpoint(_last(trained_run)).eval()
    with caplog.at_level(logging.INFO):
        migrated = CPTModule.load_from_checkpoint(old_checkpoint).eval()
    assert len(_migration_lines(caplog)) == 1
    assert "n_ctx=8 as n_ctx_text" in _migration_lines(caplog)[0]
    assert migrated.prompt_learner.ctx.shape[0] == 8
    with torch.no_grad():
        assert torch.equal(migrated(_images()), original(_images()))


def test_cpt_test_with_an_old_checkpoint_uses_its_prompt_shape_and_scores_as_the_original(
    trained_run, old_checkpoint, tmp_path, caplog
):
    config = yaml.safe_load(trained_run.read_text())
    del config["model"]["prompt_learner"]  # the prompt shape comes from the checkpoint
    untyped = write_config(tmp_path / "untyped.yaml", config)
    original = main(["test", "--config", str(untyped), "--ckpt_path", str(_last(trained_run))])
    with caplog.at_level(logging.INFO):
        migrated = main(["test", "--config", str(untyped), "--ckpt_path", str(old_checkpoint)])
    assert len(_migration_lines(caplog)) == 1
    assert migrated.model.prompt_learner.ctx.shape[0] == 8
    assert migrated.trainer.callback_metrics.keys() == original.trainer.callback_metrics.keys()
    for key, value in original.trainer.callback_metrics.items():
        assert torch.equal(migrated.trainer.callback_metrics[key], value), key
    with torch.no_grad():
        assert torch.equal(migrated.model.eval()(_images()), original.model.eval()(_images()))


def test_last_resumes_a_run_recorded_before_the_rename(trained_run, tmp_path, caplog):
    run = yaml.safe_load(trained_run.read_text())
    parsed = main(["--config", str(trained_run)], run=False).config.as_dict()
    recorded = torch.load(_last(trained_run), weights_only=True)
    assert recorded["cpt_run"]["run"] == RunIdentity.from_config(parsed, linked=DATA_LINKS).run
    # What the same run recorded when its config still said n_ctx.
    parsed["model"]["prompt_learner"]["init_args"]["n_ctx"] = parsed["model"]["prompt_learner"]["init_args"].pop(
        "n_ctx_text"
    )
    old = _spelled_before_the_rename(recorded)
    old["cpt_run"]["run"] = RunIdentity.from_config(parsed, linked=DATA_LINKS).run
    assert old["cpt_run"]["run"] != recorded["cpt_run"]["run"]

    resumed = {}
    for name, checkpoint in (("original", recorded), ("before_rename", old)):
        root = tmp_path / name
        config = copy.deepcopy(run)
        config["trainer"]["default_root_dir"] = str(root)
        config["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(root / "checkpoints")
        (root / "checkpoints").mkdir(parents=True)
        torch.save(checkpoint, root / "checkpoints" / "last.ckpt")
        caplog.clear()
        with caplog.at_level(logging.INFO):
            fit = main(["fit", "--config", str(write_config(tmp_path / f"{name}.yaml", config)), "--ckpt_path",
                        "last", "--trainer.max_epochs", "2"])  # fmt: skip
        assert fit.trainer.global_step == 2  # resumed at step 1, one more epoch of one batch
        resumed[name] = (fit.model.prompt_learner.ctx.detach(), caplog.text)
    assert torch.equal(resumed["before_rename"][0], resumed["original"][0])
    assert "written by this run before options were renamed" in resumed["before_rename"][1]
    assert "before options were renamed" not in resumed["original"][1]


def test_a_checkpoint_with_both_names_and_two_values_is_refused(trained_run, tmp_path):
    checkpoint = torch.load(_last(trained_run), weights_only=True)
    checkpoint["hyper_parameters"]["prompt_learner"]["init_args"]["n_ctx"] = 4
    path = tmp_path / "edited.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointMigrationError, match=r"n_ctx=4 and its new name n_ctx_text=8"):
        CPTModule.load_from_checkpoint(path)
