"""Composable loss terms: cross-entropy and the neural-collapse (NC) terms of CPT."""

from cpt_lightning.losses.base import LossInputs, LossTerm
from cpt_lightning.losses.class_convergence import ClassConvergenceTerm, class_convergence_loss
from cpt_lightning.losses.collection import LossCollection
from cpt_lightning.losses.cross_entropy import CrossEntropyTerm
from cpt_lightning.losses.etf_separation import EtfSeparationTerm, etf_separation_loss
from cpt_lightning.losses.kgcoop_anchor import KgCoOpAnchorTerm, kgcoop_anchor_loss
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
    "etf_separation_loss",
    "class_convergence_loss",
    "procrustes_rotation_loss",
    "centroid_anchor_loss",
    "kgcoop_anchor_loss",
]
