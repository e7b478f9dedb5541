"""Under 2-process DDP (gloo, CPU) test metrics equal a single process's exactly: no sample counted twice."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from lightning.pytorch import Trainer

from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.data.unpadded_sampler import UnpaddedDistributedSampler
from cpt_lightning.models import CPTModule

pytestmark = pytest.mark.slow

# 6 classes -> base 3, new 3; 5 images each -> 15 per set: odd, so a padding sampler would repeat one
# image, and not a multiple of 2 ranks x batch 4, so the ranks also run different numbers of batches.
CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish"]
GROUPS = ["head", "medium", "tail"]


def _evaluate(clip_dir: str, root: str, **trainer_kwargs) -> dict:
    torch.manual_seed(0)
    data = GeneratedDataModule(CLASSNAMES, eval_per_class=5, batch_size=4, subsample="base_to_new", class_groups=GROUPS)
    module = CPTModule(data.classnames, clip_name_or_path=clip_dir, class_groups=GROUPS)
    trainer = Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        **trainer_kwargs,
    )
    trainer.test(module, data)
    results = module.eval_results["test"]
    return {
        "scalars": {key: value.item() for key, value in results.scalars.items()},
        "per_class": {name: value.tolist() for name, value in results.per_class.items()},
        "samples": {name: value.tolist() for name, value in results.samples.items()},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, clip_dir: str, root: str, port: int) -> None:
    # Launched "externally" (LOCAL_RANK set): Lightning joins these processes instead of spawning its own.
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", NODE_RANK="0", LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    result = _evaluate(clip_dir, root, devices=2, strategy="ddp")
    Path(root, f"rank{rank}.json").write_text(json.dumps(result))


def test_ddp_test_metrics_equal_single_process_exactly(tiny_clip_dir, tmp_path):
    # The ranks are processes of their own, forked from this one: what is under test is the metrics'
    # sync across ranks, not how Lightning launches them, so they need not import everything again.
    # The single-process reference runs here meanwhile.
    processes = mp.start_processes(
        _rank, args=(str(tiny_clip_dir), str(tmp_path), _free_port()), nprocs=2, join=False, start_method="fork"
    )
    try:
        single = _evaluate(str(tiny_clip_dir), str(tmp_path), devices=1)
    finally:
        while not processes.join():  # raises when a rank failed
            pass
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]

    assert single["samples"] == {"base": [5, 5, 5], "new": [5, 5, 5]}
    for result in ranks:
        assert result["samples"] == single["samples"]  # every image scored once over both ranks
        assert result["per_class"] == single["per_class"]
        for key, value in single["scalars"].items():
            if key.endswith("/loss"):  # a float mean summed in another order: equal to rounding only
                assert result["scalars"][key] == pytest.approx(value, rel=1e-6), key
            else:
                assert result["scalars"][key] == value, key
    assert set(single["scalars"]) >= {"test/base/acc", "test/new/acc", "test/hm", "test/base/acc_tail"}


def test_unpadded_sampler_splits_without_repeats():
    dataset = list(range(15))
    shards = [list(UnpaddedDistributedSampler(dataset, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == dataset
    assert [len(UnpaddedDistributedSampler(dataset, num_replicas=2, rank=r)) for r in (0, 1)] == [8, 7]
    padded = [list(torch.utils.data.DistributedSampler(dataset, 2, r, shuffle=False)) for r in (0, 1)]
    assert len(padded[0] + padded[1]) == 16  # what the default sampler would have scored
