"""Shared fixtures: the real CLIP tokenizer (built offline) and tiny random CLIPs on disk."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = (REPO_ROOT / ".." / "shared").resolve()

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def cpt_in_process(*args: str) -> None:
    """`cpt ARGS` in this process, on one thread as the tests' `cpt` subprocesses run (OMP_NUM_THREADS=1), so
    a run here and one in a subprocess compute alike; for runs that need no process of their own."""
    from cpt_lightning.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main(list(args))
    finally:
        torch.set_num_threads(threads)


def shared_path(*parts: str) -> Path:
    """A path under `../shared`; skip locally, fail under CI, when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = (
            f"{path} is missing. Tests that use real files expect the project's shared/ folder beside the "
            "checkout (../shared), with clip-bpe/ and datasets/ as described in its README."
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def clip_tokenizer_dir(tmp_path_factory) -> Path:
    from cpt_lightning.testing.clip_tokenizer import build_clip_tokenizer

    out = tmp_path_factory.mktemp("clip_tokenizer")
    build_clip_tokenizer(shared_path("clip-bpe", "bpe_simple_vocab_16e6.txt.gz"), out)
    return out


@pytest.fixture(scope="session")
def clip_tokenizer(clip_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(clip_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory, clip_tokenizer) -> Path:
    """A tiny random CLIP (hidden 32, 2 layers, 32 px) with the real CLIP tokenizer, on disk."""
    from cpt_lightning.testing import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("tiny_clip"), clip_tokenizer)


@pytest.fixture(autouse=True)
def feature_cache_in_tmp(tmp_path_factory, monkeypatch):
    """The shipped configs cache evaluation features under `$CPT_FEATURE_CACHE`: keep them out of $HOME."""
    monkeypatch.setenv("CPT_FEATURE_CACHE", str(tmp_path_factory.getbasetemp() / "feature_cache"))


@pytest.fixture(autouse=True)
def no_wandb_session_left_open():
    """End the W&B session a test started, as a process exit would. W&B reads its environment
    (`WANDB_MODE`, `WANDB_DIR`) once per session and ignores later changes, so a session left by a test
    that ran disabled would make the next test's offline run silently disabled."""
    yield
    wandb = sys.modules.get("wandb")
    if wandb is not None:
        if wandb.run is not None:
            wandb.finish()
        wandb.teardown()
