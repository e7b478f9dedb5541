"""Lightning callbacks: the cluster-invariant space computed at fit start."""

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.callbacks.results_summary import ResultsSummary

__all__ = ["ClusterAssignmentCallback", "ResultsSummary"]
