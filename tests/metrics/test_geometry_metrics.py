import numpy as np
import pytest
import torch

from cpt_lightning.metrics import EtfDeviation, IntraClusterCosine, NC1WithinClassVariability
from tests.metrics import numpy_reference


def image_data(seed: int = 0, n: int = 90, k: int = 6, dim: int = 10):
    generator = torch.Generator().manual_seed(seed)
    centres = 2 * torch.randn(k, dim, generator=generator)
    labels = torch.randint(0, k, (n,), generator=generator)
    return centres[labels] + torch.randn(n, dim, generator=generator), labels


def prototypes(seed: int = 0, k: int = 25, dim: int = 12, clusters: int = 6):
    generator = torch.Generator().manual_seed(seed)
    features = torch.nn.functional.normalize(torch.randn(k, dim, generator=generator), dim=-1)
    return features, torch.randint(0, clusters, (k,), generator=generator)


def test_nc1_matches_numpy_and_does_not_depend_on_batching():
    features, labels = image_data()
    expected = numpy_reference.nc1(features.numpy(), labels.numpy())
    metric = NC1WithinClassVariability(num_classes=6, feature_dim=10)
    for chunk in range(0, 90, 32):
        metric.update(features[chunk : chunk + 32], labels[chunk : chunk + 32])
    assert metric.compute().item() == pytest.approx(expected, rel=1e-8)


def test_nc1_counts_only_seen_classes_and_is_zero_when_collapsed():
    features, labels = image_data()
    metric = NC1WithinClassVariability(num_classes=9, feature_dim=10)  # classes 6..8 never appear
    metric.update(features, labels)
    assert metric.compute().item() == pytest.approx(numpy_reference.nc1(features.numpy(), labels.numpy()), rel=1e-8)
    collapsed = NC1WithinClassVariability(num_classes=6, feature_dim=10)
    centres = torch.randn(6, 10)
    collapsed.update(centres[labels], labels)
    assert abs(collapsed.compute().item()) <= 1e-10


@pytest.mark.parametrize("centred", [True, False])
def test_etf_deviation_matches_numpy_per_cluster_and_globally(centred):
    features, ids = prototypes()
    metric = EtfDeviation(centred=centred)
    metric.update(features, ids)
    expected = numpy_reference.etf_deviation(features.numpy(), ids.numpy(), centred)
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5)
    global_metric = EtfDeviation(centred=centred)
    global_metric.update(features)
    expected_global = numpy_reference.etf_deviation(features.numpy(), np.zeros(25), centred)
    assert global_metric.compute().item() == pytest.approx(expected_global, rel=1e-5)


def test_intra_cluster_cosine_mean_and_std_match_numpy():
    features, ids = prototypes(seed=1)
    metric = IntraClusterCosine()
    metric.update(features, ids)
    result = metric.compute()
    cosines = numpy_reference.intra_cluster_cosines(features.numpy(), ids.numpy())
    assert result["mean"].item() == pytest.approx(cosines.mean(), rel=1e-5)
    assert result["std"].item() == pytest.approx(cosines.std(), rel=1e-5)


def test_metrics_without_enough_data_are_nan():
    nc1 = NC1WithinClassVariability(num_classes=3, feature_dim=2)
    nc1.update(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    assert torch.isnan(nc1.compute())
    etf = EtfDeviation()
    etf.update(torch.randn(3, 4), torch.arange(3))
    assert torch.isnan(etf.compute())
