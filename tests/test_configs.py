"""Every shipped config parses against the real signatures: `cpt fit --config configs/<x>.yaml --print_config`."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from cpt_lightning.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUN_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml"))
BENCHMARKS = {
    "imagenet", "imagenet_b2n", "imagenet_b2n_tau025", "imagenet_b2n_tau006", "caltech101", "oxford_pets",
    "stanford_cars", "flowers102", "food101", "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
    "imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r", "imagenet_lt", "places_lt", "image_folder",
    "huggingface",
}  # fmt: skip


def _printed_config(*args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(out.getvalue())


def test_every_benchmark_has_a_run_config_and_a_data_file():
    assert {p.stem for p in RUN_CONFIGS} >= BENCHMARKS, sorted(BENCHMARKS - {p.stem for p in RUN_CONFIGS})
    assert {p.stem for p in (CONFIGS / "data").glob("*.yaml")} >= BENCHMARKS


@pytest.mark.parametrize("config", RUN_CONFIGS, ids=lambda p: p.stem)
def test_run_config_parses_into_trainer_model_and_data(config):
    printed = _printed_config("--config", str(config))
    data = yaml.safe_load(config.read_text())["data"]  # a data file next to it, or inline (the demo)
    data_file = yaml.safe_load((CONFIGS / data).read_text()) if isinstance(data, str) else data
    assert printed["data"]["class_path"] == data_file["class_path"]
    for key, value in data_file["init_args"].items():
        printed_value = printed["data"]["init_args"][key]
        if isinstance(value, dict):  # a nested config (feature_cache) prints with its defaults filled in
            printed_value = {name: printed_value[name] for name in value}
        assert printed_value == value, key
    expected_clip = "builtin:world_clip" if config.stem == "demo" else "openai/clip-vit-base-patch16"
    assert printed["model"]["clip_name_or_path"] == expected_clip


@pytest.mark.parametrize("method", sorted((CONFIGS / "methods").glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("host", sorted((CONFIGS / "hosts").glob("*.yaml")), ids=lambda p: p.stem)
def test_method_and_host_files_compose_with_a_run_config(method, host):
    printed = _printed_config("--config", str(CONFIGS / "dtd.yaml"), "--config", str(method), "--model", str(host))
    expected_host = yaml.safe_load(host.read_text())["prompt_learner"]["class_path"]  # the later file wins
    assert printed["model"]["prompt_learner"]["class_path"] == expected_host
    preset = yaml.safe_load(method.read_text())
    method_terms = preset.get("model", {}).get("loss_terms")
    if method_terms is not None:
        assert [t["class_path"] for t in printed["model"]["loss_terms"]] == [t["class_path"] for t in method_terms]
    for key, value in preset.get("clusters", {}).items():  # the preset's cluster settings reach the callback
        assert printed["clusters"][key] == value, key


def test_run_configs_compose_the_method_preset_instead_of_copying_it():
    cpt = yaml.safe_load((CONFIGS / "methods" / "cpt.yaml").read_text())
    for config in ("demo", "dtd_b2n"):
        printed = _printed_config("--config", str(CONFIGS / f"{config}.yaml"))
        terms = printed["model"]["loss_terms"]
        assert [t["class_path"] for t in terms] == [t["class_path"] for t in cpt["model"]["loss_terms"]], config
        for term, preset in zip(terms, cpt["model"]["loss_terms"], strict=True):
            assert preset.get("init_args", {}).items() <= term["init_args"].items(), (config, term)
        assert printed["clusters"]["max_cluster_size"] == cpt["clusters"]["max_cluster_size"], config
    demo = yaml.safe_load((CONFIGS / "demo.yaml").read_text())
    assert "model.loss_terms" not in demo and "loss_terms" not in demo.get("model", {})


@pytest.mark.parametrize("trainer", sorted((CONFIGS / "trainer").glob("*.yaml")), ids=lambda p: p.stem)
def test_trainer_files_override_the_hardware(trainer):
    printed = _printed_config("--config", str(CONFIGS / "dtd.yaml"), "--trainer", str(trainer))
    for key, value in yaml.safe_load(trainer.read_text()).items():
        if not isinstance(value, list | dict):
            assert printed["trainer"][key] == value, key
