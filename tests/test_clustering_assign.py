import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from cpt_lightning.clustering import CLUSTER_METHODS, assign_clusters


@pytest.fixture(autouse=True)
def one_blas_thread():
    # Tiny k-means problems are dominated by OpenMP start-up on a shared machine.
    with threadpool_limits(1):
        yield


def random_features(k: int = 30, dim: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randn(k, dim, generator=torch.Generator().manual_seed(seed))


def planted_groups(sizes: list[int], dim: int = 16, seed: int = 0) -> tuple[np.ndarray, list[set[int]]]:
    """Tight bundles around far-apart directions, classes interleaved."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.standard_normal((dim, len(sizes))))[0].T
    features, labels = [], []
    for group, size in enumerate(sizes):
        features.append(centres[group] + 0.05 * rng.standard_normal((size, dim)))
        labels += [group] * size
    perm = rng.permutation(len(labels))
    features, labels = np.concatenate(features)[perm], np.asarray(labels)[perm]
    return features, [set(np.flatnonzero(labels == g).tolist()) for g in range(len(sizes))]


@pytest.mark.parametrize("method", CLUSTER_METHODS)
@pytest.mark.parametrize("max_size", [1, 5, 16])
def test_every_class_in_one_cluster_and_no_cluster_exceeds_s(method, max_size):
    ids = assign_clusters(random_features(), max_cluster_size=max_size, method=method, seed=3)
    assert ids.shape == (30,) and ids.dtype == torch.long
    sizes = torch.bincount(ids)
    assert sizes.min() >= 1  # ids are exactly 0..C-1, each used
    assert sizes.max() <= max_size
    assert len(sizes) >= int(np.ceil(30 / max_size))


@pytest.mark.parametrize("method", CLUSTER_METHODS)
def test_same_seed_same_assignment_and_canonical_numbering(method):
    first = assign_clusters(random_features(), 8, method, seed=7)
    assert torch.equal(first, assign_clusters(random_features().numpy(), 8, method, seed=7))
    # Canonical: clusters are numbered in order of their smallest class index.
    first_seen = [int(torch.nonzero(first == c)[0]) for c in range(int(first.max()) + 1)]
    assert first_seen == sorted(first_seen) and first[0] == 0


def test_random_method_depends_on_the_seed():
    assert not torch.equal(
        assign_clusters(random_features(), 8, "random", 0), assign_clusters(random_features(), 8, "random", 1)
    )


@pytest.mark.parametrize("method", ["cosine", "euclidean", "agglomerative_cosine"])
def test_recovers_well_separated_groups(method):
    # ceil(25 / 7) = 4 clusters, one per planted group.
    features, groups = planted_groups([7, 6, 7, 5])
    ids = assign_clusters(features, max_cluster_size=7, method=method, seed=0)
    found = [set(torch.nonzero(ids == c).flatten().tolist()) for c in range(int(ids.max()) + 1)]
    assert sorted(map(sorted, found)) == sorted(map(sorted, groups))


def test_oversized_groups_are_split_again():
    features, groups = planted_groups([20, 3])
    ids = assign_clusters(features, max_cluster_size=8, method="cosine", seed=0)
    assert torch.bincount(ids).max() <= 8
    # The 3-class group stays whole; the 20-class group is split, never mixed with it.
    small = sorted(groups[1])
    assert len(set(ids[small].tolist())) == 1
    assert set(ids[small].tolist()).isdisjoint(ids[sorted(groups[0])].tolist())


def test_cosine_ignores_feature_norms_euclidean_does_not_need_to():
    features = random_features(30, 8, seed=4)
    scales = torch.rand(30, 1, generator=torch.Generator().manual_seed(5)) * 5 + 0.1
    assert torch.equal(assign_clusters(features, 6, "cosine", 0), assign_clusters(features * scales, 6, "cosine", 0))


def test_identical_features_are_still_split_to_size():
    ids = assign_clusters(torch.ones(10, 4), max_cluster_size=3, method="euclidean", seed=0)
    assert torch.bincount(ids).max() <= 3 and torch.bincount(ids).sum() == 10


def test_bad_method_and_nan_features_are_explained():
    with pytest.raises(ValueError, match="method must be one of"):
        assign_clusters(random_features(), 4, "spectral")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        assign_clusters(torch.full((3, 2), float("nan")), 4)
