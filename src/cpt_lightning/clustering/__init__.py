"""The cluster-invariant space: assigning classes to clusters, and per-cluster tensor views."""

from cpt_lightning.clustering.layout import ClusterLayout

__all__ = ["ClusterLayout"]
