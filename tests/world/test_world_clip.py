"""The shipped world CLIP transfers zero-shot to every world dataset's new classes."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, CLIPModel

from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.world import WorldDataset, world_clip_path, world_dataset_names

pytestmark = pytest.mark.model

# Pretraining draws from seed path (seed, 7_777_777); world datasets from (seed, crc32(name), split),
# so these images were never seen in pretraining, whatever seed it used.
EVALUATION_SEED = 2024
IMAGES_PER_CLASS = 20


@pytest.fixture(scope="module")
def world_clip():
    path = world_clip_path()
    model = CLIPModel.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    preprocessor = json.loads((path / "preprocessor_config.json").read_text())
    return model, tokenizer, preprocessor


def test_shipped_checkpoint_is_small_and_complete():
    path = world_clip_path()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (path / name).is_file(), name
    assert sum(f.stat().st_size for f in path.iterdir()) <= 8 * 2**20


@pytest.mark.parametrize("name", world_dataset_names())
def test_zero_shot_on_new_classes_is_far_above_chance(world_clip, name):
    model, tokenizer, preprocessor = world_clip
    dataset = WorldDataset(name)
    base, new = base_new_split(len(dataset.classnames))
    n_base, new_classes = len(base), [dataset.classnames[k] for k in new]
    counts = [0] * n_base + [IMAGES_PER_CLASS] * len(new_classes)
    images, labels = dataset.render_split("test", counts, seed=EVALUATION_SEED)

    mean = torch.tensor(preprocessor["image_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor["image_std"]).view(1, 3, 1, 1)
    pixels = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    tokens = tokenizer([f"a photo of a {c}." for c in new_classes], padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        text = model.text_projection(pooled.pooler_output)
        image = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
    predictions = (image @ torch.nn.functional.normalize(text, dim=-1).T).argmax(dim=1).numpy()
    accuracy = float(np.mean(predictions == labels - n_base))
    chance = 1 / len(new_classes)
    assert accuracy >= max(0.40, 10 * chance), f"{name}: zero-shot new-class accuracy {accuracy:.3f}"
