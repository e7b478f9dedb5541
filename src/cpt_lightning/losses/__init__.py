"""Composable loss terms: cross-entropy and the neural-collapse (NC) terms of CPT."""

from cpt_lightning.losses.base import LossInputs, LossTerm
from cpt_lightning.losses.collection import LossCollection
from cpt_lightning.losses.cross_entropy import CrossEntropyTerm

__all__ = ["LossInputs", "LossTerm", "LossCollection", "CrossEntropyTerm"]
