"""Per-cluster / per-group breakdowns against numpy references, hand cases and the logged metrics."""

import numpy as np
import pytest
import torch

from cpt_lightning.metrics import EtfDeviation, IntraClusterCosine
from cpt_lightning.metrics.geometry_report import (
    class_means,
    etf_deviation_by_cluster,
    intra_cluster_cosines,
    nc1_by_group,
    shared_pca_2d,
)
from tests.metrics import numpy_reference

# Cluster ids that are neither contiguous nor sorted: 5 has 3 classes, 2 has 2, 9 is a singleton.
CLUSTER_IDS = torch.tensor([5, 2, 5, 5, 2, 9])


def prototypes(seed: int = 0, k: int = 6, dim: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(k, dim, generator=generator), dim=-1)


@pytest.mark.parametrize("centred", [True, False])
def test_etf_deviation_by_cluster_is_each_clusters_own_deviation(centred):
    features = prototypes()
    by_cluster = etf_deviation_by_cluster(features, CLUSTER_IDS, centred)
    assert sorted(by_cluster) == [2, 5]  # the singleton 9 has no pairs
    for cluster, value in by_cluster.items():
        members = features[CLUSTER_IDS.eq(cluster)].numpy()
        expected = numpy_reference.etf_deviation(members, np.zeros(len(members)), centred)
        assert value == pytest.approx(expected, rel=1e-5)
    logged = EtfDeviation(centred=centred)
    logged.update(features, CLUSTER_IDS)
    assert np.mean(list(by_cluster.values())) == pytest.approx(logged.compute().item(), rel=1e-6)


def test_raw_pair_cosines_are_the_pairs_the_logged_mean_and_std_summarise():
    features = prototypes(seed=1)
    pairs = intra_cluster_cosines(features, CLUSTER_IDS)
    assert pairs.cluster.tolist().count(5) == 3 and pairs.cluster.tolist().count(2) == 1
    assert 9 not in pairs.cluster.tolist()
    assert torch.allclose(pairs.target, torch.where(pairs.cluster == 5, -0.5, -1.0))
    for cluster in (2, 5):
        members = features[CLUSTER_IDS.eq(cluster)].numpy()
        expected = numpy_reference.intra_cluster_cosines(members, np.zeros(len(members)))
        np.testing.assert_allclose(
            np.sort(pairs.cosine[pairs.cluster == cluster].numpy()), np.sort(expected), rtol=1e-5
        )
    logged = IntraClusterCosine()
    logged.update(features, CLUSTER_IDS)
    summary = logged.compute()
    assert pairs.cosine.double().mean().item() == pytest.approx(summary["mean"].item(), rel=1e-6)
    assert pairs.cosine.double().std(unbiased=False).item() == pytest.approx(summary["std"].item(), rel=1e-5)


def test_centred_pair_cosines_give_the_etf_deviation_and_hit_the_target_on_a_simplex():
    features = prototypes(seed=2)
    pairs = intra_cluster_cosines(features, CLUSTER_IDS, centred=True)
    by_cluster = etf_deviation_by_cluster(features, CLUSTER_IDS, centred=True)
    for cluster, value in by_cluster.items():
        in_cluster = pairs.cluster == cluster
        squared = (pairs.cosine[in_cluster] - pairs.target[in_cluster]).square()
        assert squared.mean().item() == pytest.approx(value, rel=1e-5)
    # A regular simplex (the standard basis of R^4, shifted away from the origin) centres to an ETF.
    simplex = torch.eye(4, 6) + torch.tensor([0.0, 0.0, 0.0, 0.0, 3.0, -1.0])
    exact = intra_cluster_cosines(simplex, torch.zeros(4, dtype=torch.long), centred=True)
    assert torch.allclose(exact.cosine, torch.full((6,), -1 / 3), atol=1e-6)
    assert torch.allclose(exact.target, torch.full((6,), -1 / 3))


def test_nc1_by_group_is_nc1_of_each_groups_samples():
    generator = torch.Generator().manual_seed(3)
    centres = 2 * torch.randn(6, 5, generator=generator)
    labels = torch.randint(0, 6, (120,), generator=generator)
    features = centres[labels] + torch.randn(120, 5, generator=generator)
    groups = ["tail", "head", "medium", "head", "tail", "medium"]
    result = nc1_by_group(features, labels, groups)
    assert list(result) == ["head", "medium", "tail"]
    for group, value in result.items():
        members = torch.tensor([g == group for g in groups])[labels]
        expected = numpy_reference.nc1(features[members].numpy(), labels[members].numpy())
        assert value.item() == pytest.approx(expected, rel=1e-8)


def test_class_means_and_unseen_classes():
    features = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0]])
    means = class_means(features, torch.tensor([0, 0, 2]), num_classes=3)
    assert torch.equal(means[0], torch.tensor([2.0, 1.0], dtype=torch.float64))
    assert torch.isnan(means[1]).all()
    assert torch.equal(means[2], torch.tensor([0.0, 5.0], dtype=torch.float64))


def test_shared_pca_of_planar_data_keeps_distances_and_one_basis_for_all_sets():
    generator = torch.Generator().manual_seed(4)
    rotation, _ = torch.linalg.qr(torch.randn(7, 7, generator=generator, dtype=torch.float64))
    plane_a = torch.randn(10, 2, generator=generator, dtype=torch.float64)
    plane_b = 3 * torch.randn(8, 2, generator=generator, dtype=torch.float64)
    embed = torch.zeros(2, 7, dtype=torch.float64)
    embed[0, 0] = embed[1, 1] = 1.0
    set_a, set_b = plane_a @ embed @ rotation, (plane_b @ embed + 5.0) @ rotation
    projected_a, projected_b = shared_pca_2d([set_a, set_b])
    for original, projected in ((set_a, projected_a), (set_b, projected_b)):
        assert torch.allclose(torch.cdist(projected, projected), torch.cdist(original, original), atol=1e-9)
        assert torch.allclose(projected.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-9)
    # Shared basis: distances *across* the sets (after each set's centring) are kept too.
    centred_a, centred_b = set_a - set_a.mean(0), set_b - set_b.mean(0)
    assert torch.allclose(torch.cdist(projected_a, projected_b), torch.cdist(centred_a, centred_b), atol=1e-9)
