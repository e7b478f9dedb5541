"""Every benchmark module reads a generated miniature of its exact on-disk layout."""

from collections import Counter
from pathlib import Path

import pytest
import torch

from cpt_lightning.data import (
    Caltech101DataModule,
    DTDDataModule,
    EuroSATDataModule,
    FGVCAircraftDataModule,
    Flowers102DataModule,
    Food101DataModule,
    ImageNetADataModule,
    ImageNetDataModule,
    ImageNetLTDataModule,
    ImageNetRDataModule,
    ImageNetSketchDataModule,
    ImageNetV2DataModule,
    OxfordPetsDataModule,
    PlacesLTDataModule,
    StanfordCarsDataModule,
    SUN397DataModule,
    UCF101DataModule,
)
from cpt_lightning.data.imagenet_subsets import IMAGENET_A_WNIDS, IMAGENET_R_WNIDS

from .miniatures import TINY, class_folders, coop_split_dataset, imagenet_classnames_file, write_image

CLASSES = ["Abyssinian", "american_bulldog", "Bengal", "boxer", "great_pyrenees"]
COUNTS = {"train": 5, "val": 3, "test": 2}

# module, image dir, how CoOp's split file spells one image path
SPLIT_FILE_LAYOUTS = [
    (OxfordPetsDataModule, "images", lambda c, s, i: f"{c}_{s}{i}.jpg"),
    (Caltech101DataModule, "101_ObjectCategories", lambda c, s, i: f"{c}/image_{s}{i:04d}.jpg"),
    (StanfordCarsDataModule, "", lambda c, s, i: f"cars_{'test' if s == 'test' else 'train'}/{c}{s}{i}.jpg"),
    (Flowers102DataModule, "jpg", lambda c, s, i: f"image_{c}_{s}{i:05d}.jpg"),
    (Food101DataModule, "images", lambda c, s, i: f"{c}/{s}{i}.jpg"),
    (SUN397DataModule, "SUN397", lambda c, s, i: f"{c[0].lower()}/{c}/sun_{s}{i}.jpg"),
    (DTDDataModule, "images", lambda c, s, i: f"{c}/{c}_{s}{i:04d}.jpg"),
    (EuroSATDataModule, "2750", lambda c, s, i: f"{c}/{c}_{s}{i}.jpg"),
    (UCF101DataModule, "UCF-101-midframes", lambda c, s, i: f"{c}/v_{c}_g{i:02d}_{s}.jpg"),
]


def labels_of(items):
    return Counter(label for _, label in items)


@pytest.mark.parametrize("module, image_dir, relpath", SPLIT_FILE_LAYOUTS, ids=lambda v: getattr(v, "__name__", ""))
def test_split_file_benchmarks_load_names_counts_and_labels(tmp_path, module, image_dir, relpath):
    split = coop_split_dataset(tmp_path, image_dir, relpath, CLASSES, COUNTS, module.split_file)
    dm = module(root=str(tmp_path), shots=4, seed=1, image_settings=TINY, num_workers=0)
    assert dm.classnames == [c.replace("_", " ") for c in CLASSES]
    assert dm.eval_classnames == {"all": dm.classnames} and dm.class_groups is None
    dm.setup("fit")
    assert labels_of(dm.train_items) == {k: 4 for k in range(5)}
    assert labels_of(dm.val_items["all"]) == {k: 3 for k in range(5)}  # min(4, 4) capped by 3 images
    assert labels_of(dm.test_items["all"]) == {k: 2 for k in range(5)}
    truth = {str(tmp_path / image_dir / rel): label for rel, label, _ in split["train"]}
    assert all(truth[key] == label for key, label in dm.train_items)


def test_split_file_base_to_new_relabels_each_half(tmp_path):
    module, image_dir, relpath = SPLIT_FILE_LAYOUTS[0]
    coop_split_dataset(tmp_path, image_dir, relpath, CLASSES, COUNTS, module.split_file)
    dm = module(root=str(tmp_path), shots=2, subsample="base_to_new", image_settings=TINY, num_workers=0)
    assert dm.classnames == ["Abyssinian", "american bulldog", "Bengal"]
    assert dm.eval_classnames == {"base": dm.classnames, "new": ["boxer", "great pyrenees"]}
    dm.setup("fit")
    assert labels_of(dm.train_items) == {0: 2, 1: 2, 2: 2}
    assert labels_of(dm.test_items["new"]) == {0: 2, 1: 2}
    assert all("boxer" in key for key, label in dm.test_items["new"] if label == 0)
    pixels, labels = next(iter(dm.test_dataloader()[1]))
    assert pixels.shape == (4, 3, 8, 8) and labels.tolist() == [0, 0, 1, 1]


def test_fgvc_aircraft_reads_its_official_split_files(tmp_path):
    variants = ["707-320", "A300B4", "F/A-18"]
    (tmp_path / "variants.txt").write_text("".join(v + "\n" for v in variants))
    for split, per_class in (("train", 3), ("val", 2), ("test", 2)):
        lines = []
        for label, variant in enumerate(variants):
            for i in range(per_class):
                image_id = f"{label}{split}{i}"
                write_image(tmp_path / "images" / f"{image_id}.jpg")
                lines.append(f"{image_id} {variant}\n")
        (tmp_path / f"images_variant_{split}.txt").write_text("".join(lines))
    dm = FGVCAircraftDataModule(root=str(tmp_path), shots=16, image_settings=TINY, num_workers=0)
    assert dm.classnames == variants
    dm.setup("fit")
    assert labels_of(dm.train_items) == {0: 3, 1: 3, 2: 3}
    assert all(key.endswith(f"/images/{label}train{key[-5]}.jpg") for key, label in dm.train_items)
    assert labels_of(dm.test_items["all"]) == {0: 2, 1: 2, 2: 2}


def make_imagenet(root: Path, wnids, names, per_class=3):
    imagenet_classnames_file(root / "classnames.txt", wnids, names)
    class_folders(root / "images" / "train", wnids, per_class)
    class_folders(root / "images" / "val", wnids, 1)


def test_imagenet_coop_layout_with_held_out_validation(tmp_path):
    wnids, names = ["n01440764", "n01443537", "n01484850"], ["tench", "goldfish", "great white shark"]
    make_imagenet(tmp_path, wnids, names, per_class=5)
    dm = ImageNetDataModule(root=str(tmp_path), shots=2, image_settings=TINY, num_workers=0)
    assert dm.classnames == names
    dm.setup("fit")
    assert labels_of(dm.train_items) == {0: 2, 1: 2, 2: 2}
    assert all(f"/train/{wnids[label]}/" in key for key, label in dm.train_items)
    assert labels_of(dm.val_items["all"]) == {0: 2, 1: 2, 2: 2}  # min(2, 4) from training images
    assert not {k for k, _ in dm.val_items["all"]} & {k for k, _ in dm.train_items}
    assert all(f"/val/{wnids[label]}/" in key for key, label in dm.test_items["all"])


def imagenet_1k(root: Path):
    wnids = sorted(set(IMAGENET_A_WNIDS) | set(IMAGENET_R_WNIDS))
    extra = [f"n9{i:07d}" for i in range(1000 - len(wnids))]
    wnids = sorted(wnids + extra)
    imagenet_classnames_file(root / "classnames.txt", wnids, [f"class {w}" for w in wnids])
    return wnids


@pytest.mark.parametrize(
    "module, folder, subset",
    [
        (ImageNetADataModule, "imagenet-a", IMAGENET_A_WNIDS),
        (ImageNetRDataModule, "imagenet-r", IMAGENET_R_WNIDS),
    ],
)
def test_imagenet_a_and_r_are_200_class_subsets_on_imagenet_indices(tmp_path, module, folder, subset):
    wnids = imagenet_1k(tmp_path)
    for wnid in subset:
        write_image(tmp_path / folder / wnid / "0.jpg")
    (tmp_path / folder / "README.txt").write_text("ignored")
    dm = module(root=str(tmp_path), image_settings=TINY, num_workers=0)
    assert len(dm.classnames) == 1000 and len(dm.eval_classnames["all"]) == 200
    assert dm.eval_classnames["all"] == [f"class {w}" for w in subset]
    assert dm.eval_class_indices["all"] == [wnids.index(w) for w in subset]
    dm.setup("test")
    assert sorted(label for _, label in dm.test_items["all"]) == list(range(200))
    assert all(f"/{subset[label]}/" in key for key, label in dm.test_items["all"])
    with pytest.raises(RuntimeError, match="test-only"):
        dm.setup("fit")


def test_imagenet_v2_and_sketch_cover_all_1000_classes(tmp_path):
    wnids = imagenet_1k(tmp_path / "imagenetv2")
    imagenet_1k(tmp_path / "imagenet-sketch")
    for label, wnid in enumerate(wnids):
        v2_dir = tmp_path / "imagenetv2" / "imagenetv2-matched-frequency-format-val"
        write_image(v2_dir / str(label) / "a.jpeg")
        write_image(tmp_path / "imagenet-sketch" / "images" / wnid / "sketch_0.JPEG")
    v2 = ImageNetV2DataModule(root=str(tmp_path / "imagenetv2"), image_settings=TINY, num_workers=0)
    sketch = ImageNetSketchDataModule(root=str(tmp_path / "imagenet-sketch"), image_settings=TINY, num_workers=0)
    for dm in (v2, sketch):
        dm.setup("test")
        assert dm.eval_class_indices["all"] == list(range(1000))
        assert sorted(label for _, label in dm.test_items["all"]) == list(range(1000))
    assert all(key.split("/")[-2] == str(label) for key, label in v2.test_items["all"])
    assert all(key.split("/")[-2] == wnids[label] for key, label in sketch.test_items["all"])


def test_imagenet_lt_lists_and_many_medium_few_groups(tmp_path):
    wnids, names = ["n01440764", "n01443537", "n01484850"], ["tench", "goldfish", "great white shark"]
    imagenet_classnames_file(tmp_path / "classnames.txt", wnids, names)
    per_class = {0: 101, 1: 20, 2: 19}
    lines = []
    for label, count in per_class.items():
        for i in range(count):
            rel = f"train/{wnids[label]}/{wnids[label]}_{i}.JPEG"
            lines.append(f"{rel} {label}\n")
    (tmp_path / "ImageNet_LT_train.txt").write_text("".join(lines))
    for split in ("val", "test"):
        rels = [f"val/{wnids[label]}/{split}_{label}.JPEG {label}\n" for label in range(3)]
        (tmp_path / f"ImageNet_LT_{split}.txt").write_text("".join(rels))
        lines += rels
    for line in lines:  # every listed file exists (setup checks that), but is never decoded here
        path = tmp_path / line.split()[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    dm = ImageNetLTDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0)
    assert dm.classnames == names and dm.class_groups == ["head", "medium", "tail"]
    assert dm.class_counts == [101, 20, 19]  # every listed image trains: the list's own counts
    dm.setup("fit")  # list files only: images are not opened until loading
    assert labels_of(dm.train_items) == per_class
    assert labels_of(dm.test_items["all"]) == {0: 1, 1: 1, 2: 1}
    assert dm.train_items[0][0] == str(tmp_path / "train" / wnids[0] / f"{wnids[0]}_0.JPEG")


def test_places_lt_derives_class_names_from_paths(tmp_path):
    folders = ["a/airfield", "a/apartment_building/outdoor", "b/bakery/shop"]
    for split in ("train", "val", "test"):
        lines = [f"data_256/{folder}/0000{i}.jpg {label}\n" for label, folder in enumerate(folders) for i in range(2)]
        (tmp_path / f"Places_LT_{split}.txt").write_text("".join(lines))
    for label, folder in enumerate(folders):
        for i in range(2):  # every listed file exists (setup checks that)
            write_image(tmp_path / "data_256" / folder / f"0000{i}.jpg", value=label * 50)
    dm = PlacesLTDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0)
    assert dm.classnames == ["airfield", "apartment building outdoor", "bakery shop"]
    assert dm.class_groups == ["tail", "tail", "tail"]
    dm.setup("fit")
    assert labels_of(dm.val_items["all"]) == {0: 2, 1: 2, 2: 2}
    pixels = dm.val_dataloader()[0].dataset[0][0]
    assert pixels.shape == (3, 8, 8) and torch.isfinite(pixels).all()
