"""Bad input gets an actionable error; the subset cache is atomic and never trusted blindly."""

import json

import pytest

from cpt_lightning.data import (
    CorruptImageError,
    DatasetLayoutError,
    FGVCAircraftDataModule,
    ImageFolderDataModule,
    ImageNetDataModule,
    OxfordPetsDataModule,
)
from cpt_lightning.data import subset_cache as cache_module

from .miniatures import TINY, class_folders, coop_split_dataset, imagenet_classnames_file, write_image

PETS = ["abyssinian", "bengal", "boxer"]


def pets(root, counts=None):
    return coop_split_dataset(
        root,
        "images",
        lambda c, s, i: f"{c}_{s}{i}.jpg",
        PETS,
        counts or {"train": 4, "val": 2, "test": 1},
        "split_zhou_OxfordPets.json",
    )


def make_pets(root, **kwargs):
    return OxfordPetsDataModule(root=str(root), image_settings=TINY, num_workers=0, **kwargs)


def test_missing_root_shows_the_expected_layout(tmp_path):
    expected = "(?s)does not exist.*oxford_pets/.*split_zhou_OxfordPets.json"
    with pytest.raises(DatasetLayoutError, match=expected):
        make_pets(tmp_path / "nowhere")


def test_missing_and_malformed_split_files(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetLayoutError, match="split file .*split_zhou_OxfordPets.json is missing"):
        make_pets(tmp_path)
    (tmp_path / "split_zhou_OxfordPets.json").write_text('{"train": [')
    with pytest.raises(DatasetLayoutError, match="not valid JSON"):
        make_pets(tmp_path)
    (tmp_path / "split_zhou_OxfordPets.json").write_text('{"train": [], "test": []}')
    with pytest.raises(DatasetLayoutError, match="keys 'train', 'val', 'test'"):
        make_pets(tmp_path)
    (tmp_path / "split_zhou_OxfordPets.json").write_text(
        json.dumps({"train": [["a.jpg", "0", "abyssinian"]], "val": [["a.jpg", 0, "x"]], "test": [["a.jpg", 0, "x"]]})
    )
    with pytest.raises(DatasetLayoutError, match="entry 0 of split 'train'.*integer label"):
        make_pets(tmp_path)


def test_class_names_that_do_not_match(tmp_path):
    split = pets(tmp_path)
    split["test"][0][2] = "sphynx"
    (tmp_path / "split_zhou_OxfordPets.json").write_text(json.dumps(split))
    with pytest.raises(DatasetLayoutError, match="'sphynx'.*do not match"):
        make_pets(tmp_path)
    wnids = ["n01440764", "n01443537"]
    imagenet_classnames_file(tmp_path / "in" / "classnames.txt", wnids, ["tench", "goldfish"])
    class_folders(tmp_path / "in" / "images" / "train", wnids + ["n09999999"], 1)
    class_folders(tmp_path / "in" / "images" / "val", wnids, 1)
    dm = ImageNetDataModule(root=str(tmp_path / "in"), shots=1, image_settings=TINY, num_workers=0)
    with pytest.raises(DatasetLayoutError, match="n09999999.*classnames.txt does not list"):
        dm.setup("fit")


def test_fgvc_variant_missing_from_class_list(tmp_path):
    (tmp_path / "variants.txt").write_text("707-320\n")
    (tmp_path / "images").mkdir()
    for split in ("train", "val", "test"):
        (tmp_path / f"images_variant_{split}.txt").write_text("0001 A380\n")
    dm = FGVCAircraftDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0)
    with pytest.raises(DatasetLayoutError, match="'A380', which is not in variants.txt"):
        dm.setup("fit")


def test_a_class_with_no_images(tmp_path):
    class_folders(tmp_path / "train", ["cat", "dog"], 2)
    (tmp_path / "train" / "empty_class").mkdir()
    class_folders(tmp_path / "test", ["cat", "dog"], 1)
    dm = ImageFolderDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0)
    with pytest.raises(DatasetLayoutError, match="empty_class holds no images"):
        dm.setup("fit")


def test_more_shots_than_images_is_a_logged_fallback(tmp_path, caplog):
    pets(tmp_path)
    dm = make_pets(tmp_path, shots=16)
    dm.setup("fit")
    assert len(dm.train_items) == 12  # all 4 images of each of 3 classes
    assert "fewer images than requested" in caplog.text and "abyssinian (4)" in caplog.text


def test_a_corrupt_image_is_named(tmp_path):
    pets(tmp_path)
    broken = tmp_path / "images" / "boxer_test0.jpg"
    broken.write_bytes(broken.read_bytes()[:40])
    dm = make_pets(tmp_path, shots=1)
    dm.setup("test")
    with pytest.raises(CorruptImageError, match="boxer_test0.jpg"):
        list(dm.test_dataloader()[0])


@pytest.mark.parametrize("tau", [0.0, -1.0, 1.5])
def test_tau_outside_unit_interval(tmp_path, tau):
    pets(tmp_path)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        make_pets(tmp_path, tau=tau)


def test_missing_image_settings_is_explained(tmp_path):
    pets(tmp_path)
    dm = OxfordPetsDataModule(root=str(tmp_path), num_workers=0)
    with pytest.raises(RuntimeError, match="no image settings"):
        dm.setup("fit")


def test_same_seed_same_files_other_seed_other_files_and_the_cache_round_trips(tmp_path):
    pets(tmp_path, {"train": 8, "val": 4, "test": 1})
    runs = {}
    for seed in (1, 1, 2):
        dm = make_pets(tmp_path, shots=2, seed=seed, use_cache=False)
        dm.setup("fit")
        runs.setdefault(seed, []).append(sorted(dm.train_items))
    assert runs[1][0] == runs[1][1] and runs[1][0] != runs[2][0]
    cached = make_pets(tmp_path, shots=2, seed=1)
    cached.setup("fit")
    files = list((tmp_path / "split_cache").glob("*.json"))
    assert [f.name for f in files] == ["oxford_pets_shots2_seed1_tau1.0_all.json"]
    assert sorted(cached.train_items) == runs[1][0]
    again = make_pets(tmp_path, shots=2, seed=1)
    again.setup("fit")
    assert sorted(again.train_items) == runs[1][0]


def test_tampered_or_truncated_cache_is_rejected_and_regenerated(tmp_path, caplog):
    pets(tmp_path, {"train": 8, "val": 4, "test": 1})
    dm = make_pets(tmp_path, shots=2, tau=0.5)
    dm.setup("fit")
    expected = sorted(dm.train_items)
    path = next((tmp_path / "split_cache").glob("*.json"))
    payload = json.loads(path.read_text())
    payload["subset"]["train"][0][1] = 2  # a label the digest does not cover
    path.write_text(json.dumps(payload))
    rerun = make_pets(tmp_path, shots=2, tau=0.5)
    rerun.setup("fit")
    assert sorted(rerun.train_items) == expected and "does not match its digest" in caplog.text
    path.write_text(path.read_text()[: len(path.read_text()) // 2])  # a crash mid-write of a naive writer
    rerun = make_pets(tmp_path, shots=2, tau=0.5)
    rerun.setup("fit")
    assert sorted(rerun.train_items) == expected and "cannot be read" in caplog.text
    rewritten = json.loads(path.read_text())
    assert rewritten["digest"] == cache_module.subset_digest(rewritten["subset"])


def test_cache_listing_images_the_dataset_lacks_is_rejected(tmp_path, caplog):
    pets(tmp_path, {"train": 8, "val": 4, "test": 1})
    make_pets(tmp_path, shots=2).setup("fit")
    path = next((tmp_path / "split_cache").glob("*.json"))
    payload = json.loads(path.read_text())
    payload["subset"]["train"][0][0] = str(tmp_path / "images" / "not_there.jpg")
    payload["digest"] = cache_module.subset_digest(payload["subset"])
    path.write_text(json.dumps(payload))
    dm = make_pets(tmp_path, shots=2)
    dm.setup("fit")
    assert "lists images or labels the dataset lacks" in caplog.text
    assert all("not_there" not in key for key, _ in dm.train_items)


def test_an_interrupted_cache_write_leaves_no_file(tmp_path, monkeypatch):
    pets(tmp_path)

    def crash(payload, stream):
        stream.write(json.dumps(payload)[:50])
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(cache_module.json, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        make_pets(tmp_path, shots=2).setup("fit")
    assert list((tmp_path / "split_cache").iterdir()) == []  # neither the target nor a temporary file


def test_rgba_and_grayscale_files_decode(tmp_path):
    write_image(tmp_path / "train" / "a" / "x.png", mode="RGBA")
    write_image(tmp_path / "train" / "b" / "y.png", mode="L")
    write_image(tmp_path / "test" / "a" / "z.png", mode="LA")
    dm = ImageFolderDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0, val_dir="test")
    dm.setup("fit")
    pixels, labels = next(iter(dm.train_dataloader()))
    assert pixels.shape == (2, 3, 8, 8) and sorted(labels.tolist()) == [0, 1]
