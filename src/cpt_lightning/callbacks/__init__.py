"""Lightning callbacks: the cluster-invariant space at fit start, the NC geometry trace, summaries, predictions,
sharing."""

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.callbacks.nc_geometry_trace import NCGeometryTrace
from cpt_lightning.callbacks.prediction_writer import PredictionWriter
from cpt_lightning.callbacks.results_summary import ResultsSummary
from cpt_lightning.callbacks.share_prompt import SharePrompt

__all__ = ["ClusterAssignmentCallback", "NCGeometryTrace", "PredictionWriter", "ResultsSummary", "SharePrompt"]
