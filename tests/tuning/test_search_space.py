"""Search spaces are data: a path sets a preset's value, bad paths fail before any trial, ranges are fair."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cpt_lightning.tuning import SearchSpace, load_search_space

REPO = Path(__file__).resolve().parents[2]
SPACES = sorted((REPO / "configs" / "tuning").glob("*.yaml"))
PRESET = {
    "model": {
        "loss_terms": [
            {"class_path": "cpt_lightning.losses.CrossEntropyTerm"},
            {"class_path": "cpt_lightning.losses.EtfSeparationTerm", "init_args": {"weight": 1.0, "variant": "global"}},
        ]
    }
}


def _space(**params) -> SearchSpace:
    return SearchSpace.from_dict({"method": "m", "preset": "p.yaml", "params": params})


def test_values_land_at_their_paths_and_leave_the_preset_untouched():
    space = _space(
        w={"path": "model.loss_terms.1.init_args.weight", "type": "float", "low": 0.1, "high": 2.0},
        ce_smoothing={"path": "model.loss_terms.0.init_args.label_smoothing", "type": "float", "low": 0, "high": 1},
        epochs={"path": "trainer.max_epochs", "type": "int", "low": 1, "high": 3},
        size={"path": "clusters.max_cluster_size", "type": "categorical", "choices": [4, 8]},
    )
    config = space.config_for(PRESET, {"w": 0.5, "ce_smoothing": 0.1, "epochs": 2, "size": 8})
    assert config == {
        "model": {
            "loss_terms": [
                {"class_path": "cpt_lightning.losses.CrossEntropyTerm", "init_args": {"label_smoothing": 0.1}},
                {
                    "class_path": "cpt_lightning.losses.EtfSeparationTerm",
                    "init_args": {"weight": 0.5, "variant": "global"},
                },
            ]
        },
        "trainer": {"max_epochs": 2},
        "clusters": {"max_cluster_size": 8},
    }
    assert PRESET["model"]["loss_terms"][1]["init_args"]["weight"] == 1.0


def test_bad_spaces_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="indexes entry 2 of a list with 2 entries"):
        _space(w={"path": "model.loss_terms.2.init_args.weight", "type": "float", "low": 0.1, "high": 1}).check_against(
            PRESET
        )
    with pytest.raises(ValueError, match="a path starts with one of"):
        _space(w={"path": "optimizer.lr", "type": "float", "low": 0.1, "high": 1})
    with pytest.raises(ValueError, match="low must be > 0"):
        _space(w={"path": "model.x", "type": "float", "low": 0.0, "high": 1, "log": True})
    with pytest.raises(ValueError, match="lists no `choices`"):
        _space(w={"path": "model.x", "type": "categorical"})
    with pytest.raises(ValueError, match="missing \\['preset'\\]"):
        SearchSpace.from_dict({"method": "m", "params": {}})


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_spaces_fit_their_presets(path):
    space = load_search_space(path)
    assert space.method == path.stem
    space.check_against(space.load_preset(REPO))


def test_shipped_spaces_give_every_method_the_same_learning_rate_and_epoch_ranges():
    shared = {}
    for path in SPACES:
        params = yaml.safe_load(path.read_text())["params"]
        shared[path.stem] = (params["lr"], params["epochs"])
    assert len(shared) >= 6 and len({repr(value) for value in shared.values()}) == 1, shared
