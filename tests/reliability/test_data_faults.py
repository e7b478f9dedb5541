"""Issue 17 items 2 and 5: every training class keeps a training image; data are verified before the CLIP loads."""

from __future__ import annotations

import json
import logging

import pytest

from cpt_lightning.cli import main
from cpt_lightning.data import ImageFolderDataModule, OxfordPetsDataModule

from ..data.miniatures import TINY, class_folders, coop_split_dataset

PETS = ["abyssinian", "bengal", "boxer"]


def _pets(root, counts=None):
    coop_split_dataset(
        root,
        "images",
        lambda c, s, i: f"{c}_{s}{i}.jpg",
        PETS,
        counts or {"train": 4, "val": 2, "test": 2},
        "split_zhou_OxfordPets.json",
    )
    return root


def _fit_pets(root, *extra):
    """`cpt fit` on the pets miniature with a CLIP path that does not exist: only a data check can stop first."""
    return main(
        [
            "fit",
            "--data",
            "cpt_lightning.data.OxfordPetsDataModule",
            "--data.init_args.root",
            str(root),
            "--data.init_args.shots",
            "2",
            "--data.init_args.num_workers",
            "0",
            "--model.clip_name_or_path",
            str(root / "no_clip_here"),
            "--trainer.logger",
            "false",
            *extra,
        ]
    )


def test_every_training_class_keeps_a_training_image(tmp_path, caplog, fault_log):
    # shots=None and no val_dir: validation comes out of the training images (up to 4 per class).
    for name, count in {"tiny_class": 1, "small_class": 3, "big_class": 10}.items():
        class_folders(tmp_path / "train", [name], count)
    class_folders(tmp_path / "test", ["tiny_class", "small_class", "big_class"], 1)
    data = ImageFolderDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0)
    with caplog.at_level(logging.WARNING):
        data.setup("fit")
    train_per_class = [sum(label == k for _, label in data.train_items) for k in range(3)]
    val_per_class = [sum(label == k for _, label in data.val_items["all"]) for k in range(3)]
    # Sorted classes: big_class (10), small_class (3), tiny_class (1).
    assert train_per_class == [6, 1, 1] and val_per_class == [4, 2, 0]
    assert not set(data.train_items) & set(data.val_items["all"])
    warning = next(r.getMessage() for r in caplog.records if "keep one for training" in r.getMessage())
    assert "small class (3 images: 2 to validation)" in warning and "tiny class (1 images: 0 to validation)" in warning
    fault_log("folder data, `shots: null`, no `val_dir`, classes of 4 images or fewer", warning)


def test_missing_files_stop_the_run_before_the_clip_loads_and_nothing_is_cached(tmp_path, fault_log):
    root = _pets(tmp_path / "pets")
    (root / "images" / "bengal_val1.jpg").unlink()
    (root / "images" / "boxer_test0.jpg").unlink()
    with pytest.raises(ValueError, match=r"2 listed image files are missing \(val: 1, test: 1\)") as error:
        _fit_pets(root)
    assert "bengal_val1.jpg" in str(error.value) and "boxer_test0.jpg" in str(error.value)
    assert not (root / "split_cache").exists()  # the subset cache never records a missing file
    fault_log("split entries whose image files are missing (val and test)", error.value, root / "split_cache")


def test_verify_images_decodes_every_image_and_lists_every_bad_one(tmp_path, fault_log):
    root = _pets(tmp_path / "pets")
    truncated = root / "images" / "abyssinian_train3.jpg"
    truncated.write_bytes(truncated.read_bytes()[:60])
    (root / "images" / "boxer_test1.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"2 image files cannot be decoded") as error:
        _fit_pets(root, "--verify_images", "true")
    assert "abyssinian_train3.jpg" in str(error.value) and "boxer_test1.jpg" in str(error.value)
    assert not (root / "split_cache").exists()
    fault_log("`--verify_images true` with a truncated JPEG and an empty image file", error.value, root / "split_cache")


def test_intact_data_pass_both_checks(tmp_path):
    root = _pets(tmp_path / "pets")
    data = OxfordPetsDataModule(root=str(root), shots=2, image_settings=TINY, num_workers=0)
    splits = data.verify_files(decode=True)
    assert len(splits.train) == 12 and len(splits.test) == 6
    data.setup("fit")
    assert len(data.train_items) == 6


def test_a_fit_with_no_training_images_stops_instead_of_running_no_step(tmp_path, fault_log):
    # A subset cache that parses and matches its digest, but lists no training image (an older writer).
    from cpt_lightning.data import subset_cache

    root = _pets(tmp_path / "pets")
    data = OxfordPetsDataModule(root=str(root), shots=2, image_settings=TINY, num_workers=0)
    data.setup("fit")
    path = next((root / "split_cache").glob("*.json"))
    payload = json.loads(path.read_text())
    payload["subset"]["train"] = []
    payload["digest"] = subset_cache.subset_digest(payload["subset"])
    path.write_text(json.dumps(payload))
    emptied = OxfordPetsDataModule(root=str(root), shots=2, image_settings=TINY, num_workers=0)
    emptied.setup("fit")
    with pytest.raises(ValueError, match="training subset is empty, so a fit would run no step") as error:
        emptied.train_dataloader()
    fault_log("a (cached) training subset with no images", error.value)
