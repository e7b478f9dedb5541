"""Lightning callbacks: the cluster-invariant space computed at fit start, and the NC geometry trace."""

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.callbacks.nc_geometry_trace import NCGeometryTrace
from cpt_lightning.callbacks.results_summary import ResultsSummary

__all__ = ["ClusterAssignmentCallback", "NCGeometryTrace", "ResultsSummary"]
