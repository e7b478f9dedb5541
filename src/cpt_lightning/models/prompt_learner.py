"""The interface every host prompt learner implements."""

from __future__ import annotations

import torch
from torch import nn

from cpt_lightning.models.frozen_clip import FrozenClip


class PromptLearner(nn.Module):
    """Holds the only trained parameters and turns class names into text (and image) features.

    A host (CoOp, IVLP, ...) is built from the frozen CLIP and the training
    class names. It never registers the CLIP as a submodule, so a checkpoint
    of the host holds its prompts alone. Class-name-dependent tensors are
    rebuilt by `encode_text` from whatever names it is given, which is what
    lets a prompt transfer to another dataset.
    """

    def encode_text(self, clip: FrozenClip, classnames: list[str]) -> torch.Tensor:
        """Prompt-tuned, L2-normalised text features `[len(classnames), D]`."""
        raise NotImplementedError

    def encode_images(self, clip: FrozenClip, pixel_values: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features; text-only hosts use the frozen image tower."""
        return clip.encode_images(pixel_values)

    @property
    def prompts_images(self) -> bool:
        """True when the image features depend on trained parameters (no frozen-feature cache then)."""
        return False
