"""Protocols resolve their configs from the package when the working directory has no configs/."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpt_lightning.presets import presets_dir
from cpt_lightning.reproduce.cli import main as reproduce_main
from cpt_lightning.reproduce.protocols import Protocol, builtin_protocols, load_protocol
from cpt_lightning.reproduce.runs import missing_config_files, plan_runs, run_protocol


@pytest.mark.parametrize("name", [*builtin_protocols(), "cpt:world/protocol", "cpt:world/protocol_ivlp"])
def test_every_run_of_a_shipped_protocol_names_existing_packaged_configs(name, tmp_path):
    specs = plan_runs(load_protocol(name), root=tmp_path)  # tmp_path has no configs/
    assert specs
    for spec in specs:
        assert missing_config_files([spec]) == [], spec.run_id
        files = [file for _, file in spec.configs] + [f for pairs in spec.transfer.values() for _, f in pairs]
        assert all(Path(file).is_relative_to(presets_dir()) for file in files)


def test_a_checkout_configs_folder_is_used_first(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("seed_everything: 1\n")
    protocol = Protocol.from_dict(
        {"name": "p", "datasets": {"d": "configs/mine.yaml"}, "methods": {"m": ["configs/methods/cpt.yaml"]}}
    )
    (spec,) = plan_runs(protocol.select(seeds=[1]), root=tmp_path)
    assert spec.configs == [
        ["--config", str(tmp_path / "configs" / "mine.yaml")],
        ["--config", str(presets_dir() / "methods" / "cpt.yaml")],
    ]


def test_dry_run_says_which_runs_cannot_run_and_fails(tmp_path, capsys):
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text("name: p\ndatasets: {d: configs/absent.yaml}\nmethods: {m: [configs/methods/cpt.yaml]}\n")
    assert reproduce_main([str(protocol), "--dry-run", "--seeds", "1", "--root", str(tmp_path)]) == 1
    assert "cannot run, missing" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        run_protocol(load_protocol(str(protocol)), tmp_path / "out", root=tmp_path)
    assert not (tmp_path / "out").exists()  # refused before any run
