"""Issue 17 item 1: with --ckpt_path, what the user typed wins over the checkpoint's saved hyper-parameters."""

from __future__ import annotations

import logging
import shutil

import pytest
import yaml

from cpt_lightning.cli import main

pytestmark = pytest.mark.slow


def _checkpoint(config):
    return config.parent / "run" / "checkpoints" / "last.ckpt"


def test_typed_paths_and_optimizer_win_and_the_checkpoint_fills_the_rest(trained_run, tmp_path, caplog):
    # The CLIP moved after training: the checkpoint's saved path no longer exists.
    saved_clip = yaml.safe_load(trained_run.read_text())["model"]["clip_name_or_path"]
    moved_clip = shutil.copytree(saved_clip, tmp_path / "moved_clip")
    args = ["--config", str(trained_run), "--ckpt_path", str(_checkpoint(trained_run))]
    with caplog.at_level(logging.INFO):
        fit = main(
            [
                "fit",
                *args,
                "--model.clip_name_or_path",
                str(moved_clip),
                "--model.optimizer.init_args.lr",
                "0.5",
                "--trainer.max_epochs",
                "2",
                "--trainer.default_root_dir",
                str(tmp_path / "resumed"),
                "--trainer.callbacks",
                "[]",
            ]
        )
    assert fit.model.hparams["clip_name_or_path"] == str(moved_clip)
    assert fit.trainer.optimizers[0].defaults["lr"] == 0.5
    assert fit.trainer.global_step == 2  # resumed at step 1, one more epoch of one batch

    # Nothing typed about the prompt: the checkpoint's shape is used, and that is said in one line.
    tested = main(["test", "--config", str(trained_run), "--ckpt_path", str(_checkpoint(trained_run))])
    assert tested.model.prompt_learner.ctx.shape[0] == 8


def test_values_taken_from_the_checkpoint_are_listed_in_one_line(trained_run, tmp_path, caplog, fault_log):
    config = yaml.safe_load(trained_run.read_text())
    del config["model"]["prompt_learner"]  # left at its default: CoOp, n_ctx_text 4 from "a photo of a"
    untyped = tmp_path / "untyped.yaml"
    untyped.write_text(yaml.safe_dump(config))
    with caplog.at_level(logging.INFO):
        tested = main(["test", "--config", str(untyped), "--ckpt_path", str(_checkpoint(trained_run))])
    assert tested.model.prompt_learner.ctx.shape[0] == 8
    lines = [r.getMessage() for r in caplog.records if "taken from its saved hyper-parameters" in r.getMessage()]
    assert len(lines) == 1
    assert "model.prompt_learner.init_args.n_ctx_text=8" in lines[0] and "ctx_init=None" in lines[0]
    fault_log("`--ckpt_path` whose saved hyper-parameters differ from defaults the user left", lines[0])


def test_a_typed_prompt_shape_that_differs_from_the_checkpoint_stops_before_loading(trained_run, fault_log):
    checkpoint = _checkpoint(trained_run)
    before = checkpoint.read_bytes()
    with pytest.raises(ValueError, match=r"n_ctx_text: you gave 4, the checkpoint was trained with 8") as error:
        main(
            [
                "test",
                "--config",
                str(trained_run),
                "--ckpt_path",
                str(checkpoint),
                "--model.prompt_learner.init_args.n_ctx_text",
                "4",
            ]
        )
    assert checkpoint.read_bytes() == before
    fault_log(
        "`--ckpt_path` with a typed prompt shape (`n_ctx_text`) other than the checkpoint's",
        error.value,
        checkpoint.parent.parent,
    )


def test_the_merge_rule_on_plain_configs():
    from cpt_lightning.checkpoints.precedence import merge_saved_hyper_parameters

    saved = {
        "clip_name_or_path": "/old/clip",
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.0}},
        "templates": ["a sketch of a {}."],
        "classnames": ["cat"],  # linked from the data module: never taken from a checkpoint
        "_instantiator": "lightning.pytorch.cli.instantiate_module",
    }
    current = {
        "clip_name_or_path": "/new/clip",
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.5, "momentum": 0.9}},
        "templates": None,
        "classnames": ["dog"],
    }
    # A typed optimizer of another class keeps all of its own arguments; untyped values come from the checkpoint.
    explicit = {
        "clip_name_or_path": "/new/clip",
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.5}},
    }
    merged = merge_saved_hyper_parameters(saved, explicit, current, "run.ckpt", linked={"classnames"})
    assert merged.model == {
        "clip_name_or_path": "/new/clip",
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.5}},
        "templates": ["a sketch of a {}."],
    }
    assert merged.replaced == {"model.templates": ["a sketch of a {}."]}
    # The same class typed with one argument: that argument is the user's, the others the checkpoint's.
    same_class = {"optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.5}}}
    merged = merge_saved_hyper_parameters(saved, same_class, current, "run.ckpt", linked={"classnames"})
    assert merged.model["optimizer"] == {
        "class_path": "torch.optim.AdamW",
        "init_args": {"lr": 0.5, "weight_decay": 0.0},
    }
    assert merged.model["clip_name_or_path"] == "/old/clip" and "model.clip_name_or_path" in merged.replaced
