"""Precomputed image features standing in for pixels in a batch: the model side of the feature cache."""

from __future__ import annotations

import torch

from cpt_lightning.models.prompt_learner import PromptLearner


class ImageFeatures(torch.Tensor):
    """A batch of precomputed, L2-normalised image features `[B, D]` in the place of `pixel_values`.

    A data module with a feature cache (`cpt_lightning.data.feature_cache`)
    yields `(ImageFeatures, labels)` batches; `CPTModule.encode_images`
    returns them (as a plain tensor) instead of running the frozen image
    tower. A tensor subclass rather than a dict batch, so every step and hook
    keeps its `(inputs, labels)` batch, and the marker survives collation,
    pinning and Lightning's device moves. Only the first use strips it; no
    arithmetic is done on the subclass.
    """

    @classmethod
    def wrap(cls, features: torch.Tensor) -> ImageFeatures:
        """Mark `features` (no copy) as precomputed image features."""
        return features.as_subclass(cls)


def reject_image_prompting_host(
    prompt_learner: PromptLearner | None, error: type[Exception] = RuntimeError
) -> None:
    """Raise `error` when the host prompts the image tower: its image features change as the prompts
    train, so they can never come from a cache. The one check both the cache and the model run."""
    if prompt_learner is not None and prompt_learner.prompts_images:
        raise error(
            f"Cached image features cannot be used with the prompt host {type(prompt_learner).__name__}: it "
            "prompts the image tower, so its image features change as the prompts train. Remove the data "
            "module's `feature_cache`, or use a text-only host (CoOp, or IVLP with prompt_depth_vision=0)."
        )


def precomputed_image_features(features: ImageFeatures, prompt_learner: PromptLearner | None) -> torch.Tensor:
    """The plain `[B, D]` tensor of a cached batch, after checking the host does not prompt the image tower."""
    reject_image_prompting_host(prompt_learner)
    return features.as_subclass(torch.Tensor)
