import csv
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from threadpoolctl import threadpool_limits

from cpt_lightning.callbacks import ClusterAssignmentCallback
from cpt_lightning.clustering import assign_clusters
from tests.cluster_contract_stub import ClusterContractModule


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):
        yield


def trainer_for(tmp_path: Path, callback: ClusterAssignmentCallback, **kwargs) -> pl.Trainer:
    options = dict(
        default_root_dir=tmp_path,
        max_steps=1,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(tmp_path, name="logs"),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
    )
    options.update(kwargs)
    return pl.Trainer(**options)


def test_fit_start_assigns_logs_sizes_and_writes_members(tmp_path):
    module = ClusterContractModule(num_classes=20)
    callback = ClusterAssignmentCallback(max_cluster_size=6, method="cosine", seed=3, log_members=True)
    trainer = trainer_for(tmp_path, callback)
    trainer.fit(module)

    expected = assign_clusters(module.zero_shot_text_features(), 6, "cosine", 3)
    assert torch.equal(module.cluster_ids, expected)
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as handle:
        logged = [row for row in csv.DictReader(handle) if row.get("clusters/count")]
    sizes = torch.bincount(expected)
    assert float(logged[0]["clusters/count"]) == len(sizes)
    assert float(logged[0]["clusters/max_size"]) == sizes.max().item()
    assert float(logged[0]["clusters/singletons"]) == (sizes == 1).sum().item()
    with open(Path(trainer.logger.log_dir) / "cluster_members.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == len(sizes)
    assert "class_0" in rows[0]["members"].split(", ")


def test_uses_filled_frozen_features_without_recomputing(tmp_path):
    module = ClusterContractModule(num_classes=12)
    module.frozen_text_features = torch.nn.functional.normalize(torch.randn(12, 8), dim=-1)
    trainer_for(tmp_path, ClusterAssignmentCallback(max_cluster_size=4)).fit(module)
    assert module.zero_shot_calls == 0
    assert torch.equal(module.cluster_ids, assign_clusters(module.frozen_text_features, 4, "cosine", 0))


def test_checkpoint_restores_assignment_for_test_and_resume_without_recomputation(tmp_path):
    module = ClusterContractModule(num_classes=15)
    callback = ClusterAssignmentCallback(max_cluster_size=4, method="random", seed=1)
    trainer = trainer_for(tmp_path, callback)
    trainer.fit(module)
    checkpoint = tmp_path / "last.ckpt"
    trainer.save_checkpoint(checkpoint)

    # A module whose own features differ: recomputing would give another assignment.
    reloaded = ClusterContractModule.load_from_checkpoint(checkpoint, num_classes=15, feature_seed=99)
    trainer_for(tmp_path, ClusterAssignmentCallback(max_cluster_size=4, method="random", seed=2)).test(reloaded)
    assert torch.equal(reloaded.cluster_ids, module.cluster_ids) and reloaded.zero_shot_calls == 0

    resumed = ClusterContractModule(num_classes=15, feature_seed=99)
    resume_callback = ClusterAssignmentCallback(max_cluster_size=4, method="random", seed=2)
    trainer_for(tmp_path, resume_callback, max_steps=2).fit(resumed, ckpt_path=checkpoint)
    assert torch.equal(resumed.cluster_ids, module.cluster_ids) and resumed.zero_shot_calls == 0


class AssignmentRecorder(pl.Callback):
    """Saves each rank's assignment once training starts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def on_train_start(self, trainer, pl_module):
        torch.save(pl_module.cluster_ids.cpu(), self.directory / f"ids_rank{trainer.global_rank}.pt")


@pytest.mark.skipif(torch.cuda.is_initialized(), reason="ddp_fork cannot fork once CUDA is initialised")
def test_two_gloo_ranks_hold_rank_zeros_assignment(tmp_path):
    # Forked ranks skip re-importing torch and Lightning (seconds each on a shared machine);
    # one intra-op thread keeps OpenMP fork-safe, as DataLoader workers do.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    callback = ClusterAssignmentCallback(max_cluster_size=5, method="cosine", seed=0)
    trainer = trainer_for(tmp_path, callback, devices=2, strategy="ddp_fork", logger=False)
    trainer.callbacks.append(AssignmentRecorder(tmp_path))
    try:
        trainer.fit(ClusterContractModule(num_classes=18))
    finally:
        torch.set_num_threads(threads)
    rank0, rank1 = (torch.load(tmp_path / f"ids_rank{rank}.pt") for rank in (0, 1))
    assert torch.equal(rank0, rank1)
    # The stub's features differ per rank, so agreement means rank 0's result was broadcast.
    rank0_features = ClusterContractModule(num_classes=18).zero_shot_text_features()
    assert torch.equal(rank0, assign_clusters(rank0_features, 5, "cosine", 0))
    rank1_features = ClusterContractModule(num_classes=18, feature_seed=1).zero_shot_text_features()
    assert not torch.equal(rank1, assign_clusters(rank1_features, 5, "cosine", 0))
