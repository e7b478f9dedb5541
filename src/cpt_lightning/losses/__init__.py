"""Composable loss terms: cross-entropy, the long-tail baselines and the neural-collapse (NC) terms of CPT."""

from cpt_lightning.losses.balanced_softmax import BalancedSoftmaxTerm, balanced_softmax_loss
from cpt_lightning.losses.base import LossInputs, LossTerm
from cpt_lightning.losses.class_convergence import ClassConvergenceTerm, class_convergence_loss
from cpt_lightning.losses.collection import LossCollection
from cpt_lightning.losses.cross_entropy import CrossEntropyTerm
from cpt_lightning.losses.etf_separation import EtfSeparationTerm, etf_separation_loss
from cpt_lightning.losses.kgcoop_anchor import KgCoOpAnchorTerm, kgcoop_anchor_loss
from cpt_lightning.losses.logit_adjusted import LogitAdjustedCrossEntropyTerm, logit_adjusted_cross_entropy
from cpt_lightning.losses.rotation_stabilization import (
    RotationStabilizationTerm,
    centroid_anchor_loss,
    procrustes_rotation_loss,
)

__all__ = [
    "LossInputs",
    "LossTerm",
    "LossCollection",
    "CrossEntropyTerm",
    "EtfSeparationTerm",
    "ClassConvergenceTerm",
    "RotationStabilizationTerm",
    "KgCoOpAnchorTerm",
    "LogitAdjustedCrossEntropyTerm",
    "BalancedSoftmaxTerm",
    "etf_separation_loss",
    "class_convergence_loss",
    "procrustes_rotation_loss",
    "centroid_anchor_loss",
    "kgcoop_anchor_loss",
    "logit_adjusted_cross_entropy",
    "balanced_softmax_loss",
]
