"""What the data side needs from the model it is attached to, named once.

A data module asks its trainer's LightningModule for two things only, each a small protocol that
`CPTModule` implements: the image settings of its CLIP (`ImageSettingsSource`, when the data
module was given none) and, with a feature cache, the frozen CLIP and prompt host that encode the
images (`FrozenImageEncoder`). Everything else flows the other way, from data to model, through
the CLI's parse-time links (`classnames`, `class_groups`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import lightning as L

from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.models.prompt_learner import PromptLearner


@runtime_checkable
class ImageSettingsSource(Protocol):
    """A model that knows how its images must be prepared (CPTModule: from its CLIP checkpoint)."""

    @property
    def image_settings(self) -> ImageSettings: ...


@runtime_checkable
class FrozenImageEncoder(Protocol):
    """A model with a frozen CLIP that can encode images once, and the host that may prompt its image tower."""

    clip: FrozenClip
    prompt_learner: PromptLearner | None


def attached_model(datamodule: L.LightningDataModule) -> L.LightningModule | None:
    """The LightningModule of the trainer `datamodule` is attached to, if any."""
    trainer = getattr(datamodule, "trainer", None)
    return getattr(trainer, "lightning_module", None) if trainer is not None else None


def resolve_image_settings(datamodule: L.LightningDataModule) -> ImageSettings:
    """The data module's `image_settings`, else the attached model's, else a clear error."""
    settings = getattr(datamodule, "image_settings", None)
    if settings is not None:
        return settings
    model = attached_model(datamodule)
    settings = model.image_settings if isinstance(model, ImageSettingsSource) else None
    if settings is None:
        raise RuntimeError(
            f"{type(datamodule).__name__} has no image settings: pass `image_settings=ImageSettings(...)` "
            "or attach it to a Trainer whose LightningModule has an `image_settings` attribute "
            "(CPTModule reads them from the CLIP checkpoint)."
        )
    datamodule.image_settings = settings
    return settings


def attached_image_encoder(datamodule: L.LightningDataModule) -> FrozenImageEncoder:
    """The attached model as a `FrozenImageEncoder`, or an error saying how to attach one."""
    model = attached_model(datamodule)
    if not isinstance(model, FrozenImageEncoder) or not isinstance(model.clip, FrozenClip):
        raise RuntimeError(
            f"{type(datamodule).__name__} has a feature_cache but no CPTModule to encode images with: attach it "
            "to a Trainer whose LightningModule has a frozen `clip` (CPTModule), or remove `feature_cache`."
        )
    return model
