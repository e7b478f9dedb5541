"""torchmetrics Metrics: group accuracies and neural-collapse geometry."""

from cpt_lightning.metrics.etf_deviation import EtfDeviation
from cpt_lightning.metrics.geometry import GeometryMetrics
from cpt_lightning.metrics.intra_cluster_cosine import IntraClusterCosine, intra_cluster_pairwise_cosines
from cpt_lightning.metrics.nc1 import NC1WithinClassVariability, nc1_within_class_variability

__all__ = [
    "EtfDeviation",
    "GeometryMetrics",
    "IntraClusterCosine",
    "NC1WithinClassVariability",
    "intra_cluster_pairwise_cosines",
    "nc1_within_class_variability",
]
