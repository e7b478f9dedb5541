"""Two gloo processes on CPU: metrics and running means reduce to the single-process result."""

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cpt_lightning.losses import ClassConvergenceTerm, LossInputs
from cpt_lightning.metrics import EtfDeviation, IntraClusterCosine, NC1WithinClassVariability
from tests.metrics import numpy_reference
from tests.metrics.test_geometry_metrics import image_data, prototypes

WORLD_SIZE = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        features, labels = image_data()
        nc1 = NC1WithinClassVariability(num_classes=6, feature_dim=10)
        nc1.update(features[rank::WORLD_SIZE], labels[rank::WORLD_SIZE])

        # Each rank holds the prototypes of half of the clusters.
        text, ids = prototypes()
        mine = ids % WORLD_SIZE == rank
        etf, cosine = EtfDeviation(), IntraClusterCosine()
        etf.update(text[mine], ids[mine])
        cosine.update(text[mine], ids[mine])

        term = ClassConvergenceTerm()
        batch = slice(rank * 45, (rank + 1) * 45)
        term(
            LossInputs(
                logits=torch.zeros(45, 6),
                labels=labels[batch],
                image_features=features[batch],
                text_features=torch.randn(6, 10),
                cluster_ids=torch.tensor([0, 0, 1, 1, 2, 2]),
            )
        )
        results = {
            "nc1": nc1.compute(),
            "etf": etf.compute(),
            "cosine": cosine.compute(),
            "class_image_means": term.class_image_means,
        }
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory):
    if torch.cuda.is_initialized():
        pytest.skip("forking workers is unsafe once CUDA is initialised")
    out_dir = tmp_path_factory.mktemp("gloo")
    threads = torch.get_num_threads()
    # Forked workers reuse the imported modules (spawn re-imports for seconds per process).
    torch.set_num_threads(1)
    try:
        mp.start_processes(worker, args=(free_port(), str(out_dir)), nprocs=WORLD_SIZE, start_method="fork")
    finally:
        torch.set_num_threads(threads)
    return [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]


def test_nc1_over_two_ranks_equals_numpy_on_all_data(rank_results):
    features, labels = image_data()
    expected = numpy_reference.nc1(features.numpy(), labels.numpy())
    for result in rank_results:
        assert result["nc1"].item() == pytest.approx(expected, rel=1e-8)


def test_etf_deviation_and_intra_cluster_cosine_over_two_ranks_equal_numpy_on_all_clusters(rank_results):
    text, ids = prototypes()
    expected_etf = numpy_reference.etf_deviation(text.numpy(), ids.numpy())
    cosines = numpy_reference.intra_cluster_cosines(text.numpy(), ids.numpy())
    for result in rank_results:
        assert result["etf"].item() == pytest.approx(expected_etf, rel=1e-5)
        assert result["cosine"]["mean"].item() == pytest.approx(cosines.mean(), rel=1e-5)
        assert result["cosine"]["std"].item() == pytest.approx(cosines.std(), rel=1e-5)


def test_running_image_means_are_identical_and_use_the_global_batch(rank_results):
    features, labels = image_data()
    expected = np.stack([features[labels == k].mean(0).numpy() for k in range(6)])
    for result in rank_results:
        np.testing.assert_allclose(result["class_image_means"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(rank_results[0]["class_image_means"], rank_results[1]["class_image_means"])
