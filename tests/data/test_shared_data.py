"""Real images from ../shared: CIFAR-10 through the folder module, the ImageNet sample at 1,000 classes."""

import os
from pathlib import Path

import pytest
import torch

from cpt_lightning.data import ImageFolderDataModule, ImageNetDataModule
from cpt_lightning.image_settings import CLIP_MEAN, CLIP_STD, ImageSettings

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing under CI=true; shared datasets must be at ../shared/datasets.")
        pytest.skip(f"{path} is not available locally")
    return path


def test_cifar10_mini_through_the_folder_module(tmp_path):
    root = shared_dataset("cifar10-mini")
    settings = ImageSettings(crop_size=32, resize_shortest_edge=32)
    dm = ImageFolderDataModule(
        root=str(root), shots=2, seed=1, image_settings=settings, num_workers=0, cache_dir=str(tmp_path)
    )
    assert dm.classnames == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    dm.setup("fit")
    assert len(dm.train_items) == 20 and len(dm.test_items["all"]) == 500
    assert all(Path(key).parent.name == dm.classnames[label] for key, label in dm.test_items["all"])
    pixels, labels = next(iter(dm.test_dataloader()[0]))
    assert pixels.shape == (100, 3, 32, 32)
    # 32 px images at 32 px settings are not resampled: pixel values invert exactly
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    raw = pixels * std + mean
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
    assert torch.allclose(raw * 255, (raw * 255).round(), atol=1e-3)


def test_imagenet_sample_through_the_imagenet_module(tmp_path):
    root = shared_dataset("imagenet-sample")
    settings = ImageSettings(crop_size=16, resize_shortest_edge=16)
    dm = ImageNetDataModule(
        root=str(root),
        train_dir="images",
        test_dir="images",
        shots=1,
        image_settings=settings,
        num_workers=0,
        cache_dir=str(tmp_path),
    )
    names = [line.split(" ", 1)[1] for line in (root / "classnames.txt").read_text().splitlines()]
    assert len(dm.classnames) == 1000 and dm.classnames == names
    assert dm.classnames[:2] == ["tench", "goldfish"]
    dm.setup("fit")
    assert sorted(label for _, label in dm.train_items) == list(range(1000))
    assert all(Path(key).name.startswith(Path(key).parent.name) for key, _ in dm.train_items)
    assert len(dm.test_items["all"]) == 1000 and dm.val_items["all"] == []  # no image is left to hold out
    pixels, labels = next(iter(dm.test_dataloader()[0]))
    assert pixels.shape == (100, 3, 16, 16) and labels.tolist() == list(range(100))
    assert torch.isfinite(pixels).all() and pixels.std() > 0.1
