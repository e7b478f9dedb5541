"""Lightning callbacks: the cluster-invariant space computed at fit start."""

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback

__all__ = ["ClusterAssignmentCallback"]
