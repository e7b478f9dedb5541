"""Zero-shot classification of world images with a plain HF `CLIPModel` (no prompt learning)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPModel, PreTrainedTokenizerBase

from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.image_settings import ImageSettings

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


def base_new_accuracies(
    model: CLIPModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: ImageSettings,
    images: np.ndarray,
    labels: np.ndarray,
    classnames: list[str],
    template: str = DEFAULT_TEMPLATE,
) -> dict[str, float]:
    """`{"base": top-1, "new": top-1}`: each half of CoOp's split (`base_new_split`) among its own classes."""
    result = {}
    for half, members in zip(("base", "new"), base_new_split(len(classnames)), strict=True):
        mask = np.isin(labels, members)
        own_labels = np.searchsorted(members, labels[mask])  # relabelled 0..m-1, as the split defines
        own_names = [classnames[k] for k in members]
        result[half] = zero_shot_accuracy(model, tokenizer, settings, images[mask], own_labels, own_names, template)
    return result


def zero_shot_table(model_dir: str | None = None, per_class: int = 20, seed: int = 12345) -> str:
    """Markdown: zero-shot top-1 (percent) of a world CLIP on every world dataset's base and new classes,
    with "a photo of a {}." and with the dataset's style named (the first `STYLE_TEMPLATES` entry), and
    on clean photos of the same classes. `model_dir` defaults to the shipped checkpoint."""
    from transformers import AutoTokenizer

    from cpt_lightning.world.captions import STYLE_TEMPLATES
    from cpt_lightning.world.checkpoint import world_clip_path
    from cpt_lightning.world.datasets import WorldDataset, world_dataset_names

    path = model_dir or world_clip_path()
    model, tokenizer = CLIPModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    settings = ImageSettings.from_preprocessor_dict(json.loads((Path(path) / "preprocessor_config.json").read_text()))
    lines = [
        "| dataset | zero-shot base | zero-shot new | + style word, base | + style word, new |",
        "|---|---|---|---|---|",
    ]
    clean = None
    for name in world_dataset_names():
        dataset = WorldDataset(name)
        images, labels = dataset.render_split("test", per_class, seed)
        style_template = STYLE_TEMPLATES[dataset.spec.style][0]
        cells = []
        for template in (DEFAULT_TEMPLATE, style_template):
            accuracies = base_new_accuracies(model, tokenizer, settings, images, labels, dataset.classnames, template)
            cells += [f"{100 * accuracies[half]:.1f}" for half in ("base", "new")]
        lines.append(f"| {name} | {' | '.join(cells)} |")
        if clean is None:  # every dataset has the same 64 colour x shape classes: measure clean photos once
            dataset.spec = dataclasses.replace(dataset.spec, style="photo", severity_range=(0.0, 0.0))
            images, labels = dataset.render_split("test", per_class, seed)
            clean = zero_shot_accuracy(model, tokenizer, settings, images, labels, dataset.classnames)
    lines += ["", f"Clean photos of the same {len(dataset.classnames)} classes (all at once): {100 * clean:.1f}."]
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Zero-shot top-1 of a world CLIP on every world dataset.")
    parser.add_argument("--model", default=None, help="a save_pretrained folder (default: the shipped model)")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12345, help="rendering seed (12345 is never a pretraining seed)")
    args = parser.parse_args()
    print(zero_shot_table(args.model, args.per_class, args.seed))
