"""Lightning callbacks: the cluster-invariant space computed at fit start, summaries, predictions, sharing."""

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.callbacks.prediction_writer import PredictionWriter
from cpt_lightning.callbacks.results_summary import ResultsSummary
from cpt_lightning.callbacks.share_prompt import SharePrompt

__all__ = ["ClusterAssignmentCallback", "PredictionWriter", "ResultsSummary", "SharePrompt"]
