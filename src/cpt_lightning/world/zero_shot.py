"""Zero-shot classification of world images with a plain HF `CLIPModel` (no prompt learning)."""

from __future__ import annotations

import numpy as np
import torch
from transformers import CLIPModel, PreTrainedTokenizerBase

from cpt_lightning.models.image_settings import ImageSettings

DEFAULT_TEMPLATE = "a photo of a {}."


def pixel_values(images: np.ndarray, settings: ImageSettings) -> torch.Tensor:
    """uint8 [N, H, W, 3] world images -> normalised float [N, 3, H, W] (they already have the crop size)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(settings.mean).view(1, 3, 1, 1)
    std = torch.tensor(settings.std).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def text_features(model: CLIPModel, tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> torch.Tensor:
    """L2-normalised projected text features [len(texts), D], pooled at each text's end token."""
    tokens = tokenizer(texts, padding=True, return_tensors="pt")
    pooled = model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).pooler_output
    return torch.nn.functional.normalize(model.text_projection(pooled), dim=-1)


@torch.no_grad()
def image_features(model: CLIPModel, pixels: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """L2-normalised projected image features [N, D]."""
    chunks = [
        model.visual_projection(model.vision_model(pixel_values=chunk).pooler_output)
        for chunk in pixels.split(batch_size)
    ]
    return torch.nn.functional.normalize(torch.cat(chunks), dim=-1)


def zero_shot_accuracy(
    model: CLIPModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: ImageSettings,
    images: np.ndarray,
    labels: np.ndarray,
    classnames: list[str],
    template: str = DEFAULT_TEMPLATE,
) -> float:
    """Top-1 accuracy of `template`-prompted zero-shot classification among `classnames`."""
    classifier = text_features(model, tokenizer, [template.format(name) for name in classnames])
    predictions = (image_features(model, pixel_values(images, settings)) @ classifier.T).argmax(dim=1)
    return float((predictions.numpy() == labels).mean())
