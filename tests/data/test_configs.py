"""Every data config names an existing data module and only arguments its `__init__` accepts."""

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
DATA_CONFIGS = [c for c in CONFIGS if "data" in (yaml.safe_load(c.read_text()) or {})]


def test_every_benchmark_has_a_config():
    names = {c.stem for c in DATA_CONFIGS}
    required = {
        "imagenet",
        "imagenet_b2n",
        "imagenet_b2n_tau025",
        "imagenet_b2n_tau006",
        "caltech101",
        "oxford_pets",
        "stanford_cars",
        "flowers102",
        "food101",
        "fgvc_aircraft",
        "sun397",
        "dtd",
        "eurosat",
        "ucf101",
        "imagenetv2",
        "imagenet_sketch",
        "imagenet_a",
        "imagenet_r",
        "imagenet_lt",
        "places_lt",
        "image_folder",
        "huggingface",
    }
    assert required <= names, sorted(required - names)


@pytest.mark.parametrize("config", DATA_CONFIGS, ids=lambda c: c.stem)
def test_data_section_binds_to_the_module_signature(config):
    data = yaml.safe_load(config.read_text())["data"]
    module_name, class_name = data["class_path"].rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    inspect.signature(cls.__init__).bind(None, **data["init_args"])
