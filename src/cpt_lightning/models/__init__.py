"""Frozen CLIP, prompt learners and the LightningModule that joins them."""

from cpt_lightning.models.coop_prompt_learner import CoOpPromptLearner
from cpt_lightning.models.cpt_module import CPTModule
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.models.ivlp_prompt_learner import IVLPPromptLearner
from cpt_lightning.models.prompt_learner import PromptLearner

__all__ = ["CPTModule", "CoOpPromptLearner", "FrozenClip", "IVLPPromptLearner", "PromptLearner"]
