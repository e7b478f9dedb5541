"""Under 2-process DDP (gloo, CPU) every rank samples the same subset, and a divergence is caught."""

import json
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cpt_lightning.data import OxfordPetsDataModule

from .miniatures import TINY, coop_split_dataset


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_rank(rank: int, world_size: int, root: str, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        # Both ranks sample and race to write the same cache file.
        dm = OxfordPetsDataModule(root=root, shots=2, seed=7, tau=0.5, image_settings=TINY, num_workers=0)
        dm.setup("fit")
        result = {"train": dm.train_items, "val": dm.val_items, "groups": dm.class_groups}
        try:  # a rank-dependent seed must be refused on every rank
            OxfordPetsDataModule(
                root=root, shots=2, seed=rank, image_settings=TINY, num_workers=0, use_cache=False
            ).setup("fit")
            result["divergence"] = "not detected"
        except RuntimeError as error:
            result["divergence"] = str(error)
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_every_rank_sees_the_same_sampled_subset(tmp_path):
    classes = ["a", "b", "c", "d"]
    coop_split_dataset(
        tmp_path / "pets",
        "images",
        lambda c, s, i: f"{c}_{s}{i}.jpg",
        classes,
        {"train": 6, "val": 3, "test": 1},
        "split_zhou_OxfordPets.json",
    )
    # Forked ranks: the sampling across ranks is under test, not the launcher, so they need not import again.
    mp.start_processes(
        run_rank, args=(2, str(tmp_path / "pets"), free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork"
    )
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    for key in ("train", "val", "groups"):
        assert rank0[key] == rank1[key]
    assert len(rank0["train"]) > 0
    assert "ranks sampled different subsets" in rank0["divergence"]
    assert "ranks sampled different subsets" in rank1["divergence"]
    assert len(list((tmp_path / "pets" / "split_cache").iterdir())) == 1  # no temporary file left behind
