"""Builders of tiny on-disk copies of each benchmark's exact layout, for tests."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from cpt_lightning.image_settings import ImageSettings

TINY = ImageSettings(crop_size=8, resize_shortest_edge=8)


def write_image(path: Path, value: int = 128, size: tuple[int, int] = (10, 8), mode: str = "RGB") -> Path:
    """A small solid-colour image; the format follows the suffix (JPEG for .jpg / .JPEG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else tuple([value] * len(mode))
    Image.new(mode, size, color).save(path)
    return path


def coop_split_dataset(
    root: Path, image_dir: str, relpath, classnames: list[str], counts: dict[str, int], split_file: str
) -> dict[str, list[list]]:
    """Write images and a `split_zhou_*.json`; `relpath(classname, split, i)` gives each path."""
    split = {}
    for name, per_class in counts.items():
        records = []
        for label, classname in enumerate(classnames):
            for i in range(per_class):
                rel = relpath(classname, name, i)
                write_image(root / image_dir / rel, value=(label * 40 + i) % 256)
                records.append([rel, label, classname])
        split[name] = records
    (root / split_file).write_text(json.dumps(split))
    return split


def imagenet_classnames_file(path: Path, wnids: list[str], names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{wnid} {name}\n" for wnid, name in zip(wnids, names, strict=True)))


def class_folders(directory: Path, folders: list[str], per_class: int, suffix: str = ".JPEG") -> None:
    for label, folder in enumerate(folders):
        for i in range(per_class):
            write_image(directory / folder / f"{folder}_{i}{suffix}", value=(label * 30 + i) % 256)
