"""Issue 17 items 6 and 7: checkpoint, seed, CLIP-path, tokenizer, split and YAML errors name the file or key."""

from __future__ import annotations

import json
import logging
import shutil

import huggingface_hub.constants
import pytest
import yaml

from cpt_lightning.cli import main
from cpt_lightning.data import DatasetLayoutError, ImageFolderDataModule, OxfordPetsDataModule
from cpt_lightning.models.frozen_clip import FrozenClip

from ..data.miniatures import TINY, class_folders, coop_split_dataset
from .conftest import write_config

PETS = ["abyssinian", "bengal", "boxer"]


def _pets_split(root, counts):
    return coop_split_dataset(
        root, "images", lambda c, s, i: f"{c}_{s}{i}.jpg", PETS, counts, "split_zhou_OxfordPets.json"
    )


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty", "truncated"])
@pytest.mark.parametrize("ckpt_path", ["file", "last"])
def test_an_unreadable_checkpoint_is_named(trained_run, tmp_path, damage, ckpt_path, fault_log):
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    broken = checkpoints / "last.ckpt"
    whole = (trained_run.parent / "run" / "checkpoints" / "last.ckpt").read_bytes()
    broken.write_bytes(b"" if damage == "empty" else whole[: len(whole) // 2])
    settings = yaml.safe_load(trained_run.read_text())
    settings["trainer"]["default_root_dir"] = str(tmp_path / "run")
    settings["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(checkpoints)
    config = write_config(tmp_path / "run.yaml", settings)
    subcommand = "test" if ckpt_path == "file" else "fit"
    with pytest.raises(ValueError, match=r"Checkpoint .*last.ckpt \(\d+ bytes\) cannot be read") as error:
        main([subcommand, "--config", str(config), "--ckpt_path", str(broken) if ckpt_path == "file" else "last"])
    fault_log(f"`cpt {subcommand} --ckpt_path {ckpt_path}` on an {damage} checkpoint", error.value, checkpoints)


def test_a_negative_seed_names_the_seed(tmp_path, fault_log):
    class_folders(tmp_path / "train", ["cat", "dog"], 2)
    class_folders(tmp_path / "test", ["cat", "dog"], 1)
    with pytest.raises(ValueError, match=r"seed \(the data sampling seed, `data.init_args.seed`\).*got -1") as error:
        ImageFolderDataModule(root=str(tmp_path), seed=-1, image_settings=TINY, num_workers=0)
    fault_log("a negative data seed (`--data.init_args.seed -1`)", error.value)
    with pytest.raises(ValueError, match=r"`seed_everything` must be an integer from 0 to 4294967295.*got -1") as error:
        main(
            [
                "fit",
                "--seed_everything",
                "-1",
                "--model.clip_name_or_path",
                str(tmp_path / "no_clip"),
                "--data",
                "cpt_lightning.data.ImageFolderDataModule",
                "--data.init_args.root",
                str(tmp_path),
            ]
        )
    fault_log("a negative `--seed_everything -1`", error.value)


def test_a_missing_relative_clip_directory_is_reported_as_a_directory(tmp_path, monkeypatch, fault_log):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no hub round trips in tests
    with pytest.raises(OSError, match=r"CLIP 'models/my-clip' is not a directory \(.*models/my-clip does not exist"):
        FrozenClip.from_pretrained("models/my-clip")
    error = pytest.raises(OSError, FrozenClip.from_pretrained, "models/my-clip").value
    fault_log("a relative `clip_name_or_path` that does not exist (`models/my-clip`)", error)


def test_a_wrong_tokenizer_end_token_advises_fixing_the_tokenizer(tiny_clip_dir, tmp_path, fault_log):
    clip = shutil.copytree(tiny_clip_dir, tmp_path / "clip")
    settings = json.loads((clip / "tokenizer_config.json").read_text())
    settings["eos_token"] = "<|startoftext|>"  # the tokenizer, not the model config, is wrong
    (clip / "tokenizer_config.json").write_text(json.dumps(settings))
    with pytest.raises(
        ValueError, match=r"its `eos_token` setting is wrong.*\"<\|endoftext\|>\" in tokenizer_config"
    ) as error:
        FrozenClip.from_pretrained(str(clip))
    fault_log("the tokenizer's `eos_token` differs from the model config's end token", error.value)


def test_a_last_label_without_training_images_says_so(tmp_path, fault_log):
    split = _pets_split(tmp_path, {"train": 2, "val": 1, "test": 1})
    split["train"] = [record for record in split["train"] if record[1] != 2]  # boxer, the last label
    (tmp_path / "split_zhou_OxfordPets.json").write_text(json.dumps(split))
    with pytest.raises(DatasetLayoutError, match=r"label 2 \('boxer'.*training split has no images of it") as error:
        OxfordPetsDataModule(root=str(tmp_path), image_settings=TINY, num_workers=0)
    fault_log("the last label of a split file has no training images", error.value)


def test_a_yaml_syntax_error_names_the_file(tmp_path, fault_log):
    config = tmp_path / "broken.yaml"
    config.write_text("trainer:\n  max_epochs: [1\n")
    with pytest.raises(ValueError, match=r"Config file .*broken.yaml is not valid YAML at line 3, column 1") as error:
        main(["fit", "--config", str(config)])
    fault_log("a YAML syntax error in a config file", error.value)


def test_the_validation_size_warning_names_classes(tmp_path, caplog, fault_log):
    _pets_split(tmp_path, {"train": 4, "val": 2, "test": 1})
    data = OxfordPetsDataModule(root=str(tmp_path), shots=4, image_settings=TINY, num_workers=0)
    with caplog.at_level(logging.WARNING):
        data.setup("fit")
    warning = next(r.getMessage() for r in caplog.records if "fewer images than requested (up to 4)" in r.getMessage())
    assert "abyssinian (2), bengal (2), boxer (2)" in warning
    fault_log("a validation split with fewer images per class than requested", warning)
