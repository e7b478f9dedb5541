"""Presets: the checkout's configs/ as package data, addressed as `cpt:NAME` from any directory."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from cpt_lightning.presets import (
    copy_presets,
    expand_preset_args,
    packaged_config,
    preset_names,
    presets_dir,
    presets_main,
    resolve_preset,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_presets_are_the_checkouts_configs_not_a_copy():
    checkout = sorted(path.relative_to(CONFIGS).with_suffix("").as_posix() for path in CONFIGS.rglob("*.yaml"))
    assert preset_names() == checkout
    for name in checkout:
        assert resolve_preset(f"cpt:{name}").samefile(CONFIGS / f"{name}.yaml"), name


def test_every_relative_reference_of_a_run_config_resolves_beside_the_preset():
    # `trainer: trainer/gpu.yaml` is resolved by jsonargparse relative to the file that names it.
    checked = 0
    for name in preset_names():
        path = resolve_preset(name)
        content = yaml.safe_load(path.read_text())
        for section in ("trainer", "model", "data"):
            value = content.get(section) if isinstance(content, dict) else None
            if isinstance(value, str) and value.endswith(".yaml"):
                assert (path.parent / value).is_file(), f"{name}: {section}: {value}"
                checked += 1
    assert checked > 50  # the CoOp run configs name their three parts this way


def test_a_run_config_addressed_as_a_preset_parses_with_its_relative_parts(tmp_path, monkeypatch, capsys):
    from cpt_lightning.cli import main

    monkeypatch.chdir(tmp_path)  # no configs/ here
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "cpt:dtd", "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["class_path"] == "cpt_lightning.data.DTDDataModule"  # from data/dtd.yaml
    assert (
        printed["trainer"]["accelerator"]
        == yaml.safe_load((CONFIGS / "trainer" / "gpu.yaml").read_text())["accelerator"]
    )
    assert printed["model"]["loss_terms"]  # from methods/cpt.yaml


def test_preset_arguments_are_expanded_in_both_spellings_and_others_are_kept():
    demo = str(presets_dir() / "demo.yaml")
    assert expand_preset_args(["fit", "--config", "cpt:demo", "--model=cpt:methods/coop.yaml", "--x", "cpt"]) == [
        "fit",
        "--config",
        demo,
        f"--model={presets_dir() / 'methods' / 'coop.yaml'}",
        "--x",
        "cpt",
    ]


def test_an_unknown_preset_names_the_close_ones():
    with pytest.raises(FileNotFoundError, match=r"cpt:demo"):
        resolve_preset("cpt:dmeo")


def test_packaged_config_maps_checkout_paths_only():
    assert packaged_config("configs/world/sketches.yaml") == presets_dir() / "world" / "sketches.yaml"
    assert packaged_config("configs/nope.yaml") is None
    assert packaged_config("elsewhere/demo.yaml") is None


def test_copy_writes_every_preset_and_never_overwrites(tmp_path):
    targets = copy_presets(tmp_path / "mine")
    assert len(targets) == len(preset_names())
    assert (tmp_path / "mine" / "demo.yaml").read_text() == (CONFIGS / "demo.yaml").read_text()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "demo.yaml").write_text("mine")
    with pytest.raises(FileExistsError, match="demo.yaml"):
        copy_presets(tmp_path / "other")
    assert (tmp_path / "other" / "demo.yaml").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["demo.yaml"]  # nothing half-copied


def test_presets_command_lists_and_shows():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert presets_main(["list"]) == 0
    assert "cpt:demo" in out.getvalue().splitlines() and "cpt:methods/cpt" in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        presets_main(["show", "methods/cpt"])
    assert out.getvalue() == (CONFIGS / "methods" / "cpt.yaml").read_text()
