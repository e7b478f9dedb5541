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


# ---- a miniature root for any shipped data module, by class (for tests that run the documented commands) ----

MINI_CLASSES = ["Abyssinian", "american_bulldog", "Bengal", "boxer", "great_pyrenees", "havanese"]
MINI_COUNTS = {"train": 4, "val": 2, "test": 2}

# how CoOp's split file spells one image path, per split-file benchmark (as tests/data/test_benchmarks.py)
SPLIT_FILE_RELPATHS = {
    "OxfordPetsDataModule": lambda c, s, i: f"{c}_{s}{i}.jpg",
    "Caltech101DataModule": lambda c, s, i: f"{c}/image_{s}{i:04d}.jpg",
    "StanfordCarsDataModule": lambda c, s, i: f"cars_{'test' if s == 'test' else 'train'}/{c}{s}{i}.jpg",
    "Flowers102DataModule": lambda c, s, i: f"image_{c}_{s}{i:05d}.jpg",
    "Food101DataModule": lambda c, s, i: f"{c}/{s}{i}.jpg",
    "SUN397DataModule": lambda c, s, i: f"{c[0].lower()}/{c}/sun_{s}{i}.jpg",
    "DTDDataModule": lambda c, s, i: f"{c}/{c}_{s}{i:04d}.jpg",
    "EuroSATDataModule": lambda c, s, i: f"{c}/{c}_{s}{i}.jpg",
    "UCF101DataModule": lambda c, s, i: f"{c}/v_{c}_g{i:02d}_{s}.jpg",
}


def imagenet_wnids() -> list[str]:
    """1,000 wnids that include ImageNet-A's and -R's 200 (the shifted sets check their subsets)."""
    from cpt_lightning.data.imagenet_subsets import IMAGENET_A_WNIDS, IMAGENET_R_WNIDS

    wnids = sorted(set(IMAGENET_A_WNIDS) | set(IMAGENET_R_WNIDS))
    return sorted(wnids + [f"n9{i:07d}" for i in range(1000 - len(wnids))])


def _imagenet(root: Path) -> None:
    wnids = imagenet_wnids()
    imagenet_classnames_file(root / "classnames.txt", wnids, [f"class {w}" for w in wnids])
    for label, wnid in enumerate(wnids):  # every class needs its folders; two training images, one test
        for split, count in (("train", 2), ("val", 1)):
            for i in range(count):
                write_image(root / "images" / split / wnid / f"{wnid}_{i}.JPEG", value=label % 256, size=(4, 4))


def _imagenet_shift(root: Path, folder: str, per_wnid) -> None:
    wnids = imagenet_wnids()
    imagenet_classnames_file(root / "classnames.txt", wnids, [f"class {w}" for w in wnids])
    for label, wnid in enumerate(wnids):
        name = per_wnid(label, wnid)
        if name is not None:
            write_image(root / folder / name, value=label % 256, size=(4, 4))


def _list_files(root: Path, prefix: str, folders: list[str], image_base: Path) -> None:
    for split, per_class in (("train", 3), ("val", 1), ("test", 1)):
        lines = []
        for label, folder in enumerate(folders):
            for i in range(per_class):
                rel = f"{folder}/{split}_{i}.jpg"
                write_image(image_base / rel, value=label * 40 + i)
                lines.append(f"{rel} {label}\n")
        (root / f"{prefix}_{split}.txt").write_text("".join(lines))


def write_miniature(class_name: str, root: Path) -> list[str]:
    """Write a miniature of data module `class_name`'s on-disk layout under `root`.

    Returns the CLI arguments that point the data module at it (`root` is the dataset folder; a
    module whose images live elsewhere gets that path too).
    """
    from cpt_lightning.data.imagenet_subsets import IMAGENET_A_WNIDS, IMAGENET_R_WNIDS

    root.mkdir(parents=True, exist_ok=True)
    if class_name in SPLIT_FILE_RELPATHS:
        import cpt_lightning.data as data

        module = getattr(data, class_name)
        relpath = SPLIT_FILE_RELPATHS[class_name]
        coop_split_dataset(root, module.image_dir, relpath, MINI_CLASSES, MINI_COUNTS, module.split_file)
    elif class_name == "FGVCAircraftDataModule":
        variants = ["707-320", "A300B4", "F/A-18", "Cessna 172"]
        (root / "variants.txt").write_text("".join(v + "\n" for v in variants))
        for split, per_class in (("train", 3), ("val", 2), ("test", 2)):
            ids = [(f"{label}{split}{i}", variant) for label, variant in enumerate(variants) for i in range(per_class)]
            for image_id, _ in ids:
                write_image(root / "images" / f"{image_id}.jpg")
            (root / f"images_variant_{split}.txt").write_text("".join(f"{i} {v}\n" for i, v in ids))
    elif class_name == "ImageNetDataModule":
        _imagenet(root)
    elif class_name == "ImageNetADataModule":
        subset = set(IMAGENET_A_WNIDS)
        _imagenet_shift(root, "imagenet-a", lambda label, wnid: f"{wnid}/0.jpg" if wnid in subset else None)
    elif class_name == "ImageNetRDataModule":
        subset = set(IMAGENET_R_WNIDS)
        _imagenet_shift(root, "imagenet-r", lambda label, wnid: f"{wnid}/0.jpg" if wnid in subset else None)
    elif class_name == "ImageNetV2DataModule":
        _imagenet_shift(root, "imagenetv2-matched-frequency-format-val", lambda label, wnid: f"{label}/a.jpeg")
    elif class_name == "ImageNetSketchDataModule":
        _imagenet_shift(root, "images", lambda label, wnid: f"{wnid}/sketch_0.JPEG")
    elif class_name == "ImageNetLTDataModule":
        wnids = ["n01440764", "n01443537", "n01484850", "n01491361"]
        imagenet_classnames_file(root / "classnames.txt", wnids, ["tench", "goldfish", "white shark", "tiger shark"])
        _list_files(root, "ImageNet_LT", wnids, root / "images")
        return ["--data.init_args.root", str(root), "--data.init_args.image_root", str(root / "images")]
    elif class_name == "PlacesLTDataModule":
        folders = ["a/airfield", "a/apartment_building/outdoor", "b/bakery/shop", "b/beach"]
        _list_files(root, "Places_LT", [f"data_256/{f}" for f in folders], root / "images")
        return ["--data.init_args.root", str(root), "--data.init_args.image_root", str(root / "images")]
    elif class_name == "UnlabelledImagesDataModule":
        for i in range(3):
            write_image(root / f"image_{i}.jpg", value=60 * i)
        return ["--data.root", str(root)]
    elif class_name in ("ImageFolderDataModule", "HuggingFaceDataModule"):
        for split, per_class in (("train", 3), ("test", 2)):
            class_folders(root / split, MINI_CLASSES[:4], per_class, suffix=".jpg")
        if class_name == "HuggingFaceDataModule":
            return ["--data.init_args.data_dir", str(root)]
    else:
        raise NotImplementedError(
            f"No miniature for {class_name}: add its layout to tests/data/miniatures.py `write_miniature`."
        )
    return ["--data.init_args.root", str(root)]
