"""Transforms: shapes, hand-computed normalisation, colour conversion, seeded randomness."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from cpt_lightning.data.transforms import EvalTransform, TrainTransform, random_resized_crop_box
from cpt_lightning.image_settings import CLIP_MEAN, CLIP_STD, ImageSettings


def test_eval_normalisation_matches_a_hand_computation():
    image = Image.new("RGB", (40, 30), (255, 128, 0))
    pixels = EvalTransform(ImageSettings(crop_size=16, resize_shortest_edge=20))(image)
    assert pixels.shape == (3, 16, 16) and pixels.dtype == torch.float32
    expected = [
        (255 / 255 - CLIP_MEAN[0]) / CLIP_STD[0],
        (128 / 255 - CLIP_MEAN[1]) / CLIP_STD[1],
        (0 - CLIP_MEAN[2]) / CLIP_STD[2],
    ]
    for channel in range(3):
        assert torch.allclose(pixels[channel], torch.full((16, 16), expected[channel]), atol=1e-6)


def test_eval_resizes_the_short_edge_then_centre_crops():
    # a horizontal ramp: after resize 40x20 -> 20x10 and centre crop 10, columns 5..14 remain
    ramp = np.tile(np.arange(40, dtype=np.uint8) * 6, (20, 1))
    image = Image.fromarray(np.stack([ramp] * 3, axis=-1))
    settings = ImageSettings(
        crop_size=10, resize_shortest_edge=10, mean=(0, 0, 0), std=(1, 1, 1), interpolation="nearest"
    )
    pixels = EvalTransform(settings)(image)
    resized = np.asarray(image.resize((20, 10), Image.Resampling.NEAREST))
    assert torch.allclose(pixels[0], torch.from_numpy(resized[:, 5:15, 0] / 255.0).float())


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_non_rgb_images_become_three_channels(mode):
    image = Image.new("RGB", (12, 12), (10, 200, 30)).convert(mode)
    settings = ImageSettings(crop_size=8, resize_shortest_edge=8)
    assert EvalTransform(settings)(image).shape == (3, 8, 8)
    assert TrainTransform(settings)(image).shape == (3, 8, 8)


def test_random_resized_crop_box_stays_inside_and_falls_back_to_a_centre_crop():
    rng = random.Random(0)
    for _ in range(200):
        left, top, right, bottom = random_resized_crop_box(50, 30, rng)
        assert 0 <= left < right <= 50 and 0 <= top < bottom <= 30
        area = (right - left) * (bottom - top)
        assert 0.08 * 1500 * 0.9 <= area <= 1500
    # a 100x1 strip admits no crop in the ratio range: torchvision's fallback keeps the full height
    assert random_resized_crop_box(100, 1, random.Random(0)) == (49, 0, 50, 1)


def test_train_transform_is_seeded_by_torch_and_ignores_global_python_rng():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    settings = ImageSettings(crop_size=8, resize_shortest_edge=8)
    torch.manual_seed(5)
    first = [TrainTransform(settings)(image) for _ in range(3)]
    torch.manual_seed(5)
    random.seed(99)
    transform = TrainTransform(settings)
    second = [transform(image) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first[:1], second[:1], strict=True))
    assert not torch.equal(second[0], second[1])  # the stream advances between calls


def test_eval_rejects_a_crop_larger_than_the_resize():
    with pytest.raises(ValueError, match="crop_size"):
        EvalTransform(ImageSettings(crop_size=224, resize_shortest_edge=200))
