"""The cluster-invariant space: assigning classes to clusters, and per-cluster tensor views."""

from cpt_lightning.clustering.assign import CLUSTER_METHODS, ClusterMethod, assign_clusters
from cpt_lightning.clustering.layout import ClusterLayout

__all__ = ["CLUSTER_METHODS", "ClusterLayout", "ClusterMethod", "assign_clusters"]
