"""Package metadata: licence, typing marker, citation, extras, and Lightning's optimizer flags refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from cpt_lightning.commands import refuse_optimizer_flags
from cpt_lightning.extras import EXTRAS, MissingExtraError, require_extra

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_typing_marker_and_citation():
    assert PROJECT["license"] == "Apache-2.0" and "Apache License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "src" / "cpt_lightning" / "py.typed").is_file()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["type"] == "software" and citation["license"] == "Apache-2.0"
    assert any("2605.11939" in str(reference) for reference in citation["references"])
    assert "Typing :: Typed" in PROJECT["classifiers"] and PROJECT["urls"]


def test_optional_dependencies_are_extras_not_requirements():
    hard = " ".join(PROJECT["dependencies"])
    for module, extra in EXTRAS.items():
        package = {"datasets": "datasets", "wandb": "wandb", "matplotlib": "matplotlib"}[module]
        assert package not in hard
        assert any(requirement.startswith(package) for requirement in PROJECT["optional-dependencies"][extra])


def test_a_missing_extra_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r'pip install "cpt-lightning\[hf\]"'):
        require_extra("datasets", "HuggingFaceDataModule")
    from cpt_lightning.data import HuggingFaceDataModule

    with pytest.raises(MissingExtraError, match=r"\[hf\]"):
        HuggingFaceDataModule(data_dir=str(tmp_path))
    monkeypatch.setitem(sys.modules, "wandb", None)
    from cpt_lightning.loggers import WandbRunLogger

    with pytest.raises(MissingExtraError, match=r"\[wandb\]"):
        WandbRunLogger()


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["fit", "--optimizer", "torch.optim.Adam"], "--model.optimizer"),
        (["fit", "--optimizer.lr=0.1"], "--model.optimizer"),
        (["fit", "--lr_scheduler=torch.optim.lr_scheduler.StepLR"], "--model.scheduler"),
    ],
)
def test_lightnings_optimizer_flags_are_refused_with_the_modules_key(args, key):
    with pytest.raises(ValueError, match=key):
        refuse_optimizer_flags(args)


def test_the_cli_refuses_them_before_building_anything():
    from cpt_lightning.cli import main

    with pytest.raises(ValueError, match="--model.optimizer"):
        main(["fit", "--config", "cpt:demo", "--optimizer", "torch.optim.Adam"])
    refuse_optimizer_flags(["fit", "--model.optimizer", "torch.optim.Adam"])  # the module's own key passes
