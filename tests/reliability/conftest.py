"""Fixtures of the bad-input and fault tests: a tiny run config, one trained checkpoint, and the fault log.

`fault_log(fault, message, *outputs)` records what a user sees for one bad input and which files
the outputs left behind; given an exception, the message is that of the library's own error in its
chain (what `cpt` prints: jsonargparse wraps errors raised while it instantiates the config).
With `CPT_RELIABILITY_LOG=<file.jsonl>` set (by `python -m cpt_lightning.tools.reliability_table`) each record is
appended to that file; otherwise nothing is written. Paths under pytest's temporary directories are
shown as `<tmp>`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import cpt_lightning

LOG_ENV = "CPT_RELIABILITY_LOG"
CLASSNAMES = ["cat", "dog", "sea lion"]


def run_config(clip_dir: Path, root: Path, **model: object) -> dict:
    """A 1-epoch, 1-batch fit of the tiny CLIP on generated data, checkpointing `last.ckpt` under `root`."""
    return {
        "seed_everything": 7,
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 1,
            "limit_train_batches": 1,
            "limit_val_batches": 0,
            "num_sanity_val_steps": 0,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root),
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"dirpath": str(root / "checkpoints"), "save_last": True, "save_top_k": 0},
                }
            ],
        },
        "model": {
            "clip_name_or_path": str(clip_dir),
            "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05}},
            **model,
        },
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {"classnames": CLASSNAMES, "batch_size": 8},
        },
    }


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="package")
def trained_run(tmp_path_factory, tiny_clip_dir) -> Path:
    """A finished 1-step fit (CoOp, n_ctx_text 8 from random init, lr 0.05); returns its config file."""
    from cpt_lightning.cli import main

    root = tmp_path_factory.mktemp("trained_run")
    prompt = {"class_path": "cpt_lightning.models.CoOpPromptLearner", "init_args": {"n_ctx_text": 8, "ctx_init": None}}
    config = write_config(root / "run.yaml", run_config(tiny_clip_dir, root / "run", prompt_learner=prompt))
    main(["fit", "--config", str(config)])
    return config


PACKAGE_DIR = Path(cpt_lightning.__file__).resolve().parent


def _raised_by_library(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and PACKAGE_DIR in Path(traceback.tb_frame.f_code.co_filename).resolve().parents


def user_message(error: BaseException) -> str:
    """The message of the outermost error raised by the library itself in `error`'s chain."""
    seen, current = set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _raised_by_library(current):
            return str(current)
        current = current.__cause__ or current.__context__
    return str(error)


def _files_under(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(str(directory.name / p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.fixture
def fault_log(request, tmp_path, tmp_path_factory):
    def record(fault: str, message: str | BaseException, *outputs: Path) -> None:
        log_file = os.environ.get(LOG_ENV)
        if not log_file:
            return
        files = [name for directory in outputs for name in _files_under(Path(directory))]
        entry = {
            "test": request.node.nodeid,
            "fault": fault,
            "message": (message if isinstance(message, str) else user_message(message))
            .replace(str(tmp_path), "<tmp>")
            .replace(str(tmp_path_factory.getbasetemp()), "<tmp>"),
            "left_on_disk": files if outputs else None,
        }
        with open(log_file, "a") as stream:
            stream.write(json.dumps(entry) + "\n")

    return record
