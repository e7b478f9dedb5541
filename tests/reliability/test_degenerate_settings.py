"""Issue 17 item 4: settings that make a method degenerate are named in one warning at fit start."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from cpt_lightning.cli import main
from cpt_lightning.losses import (
    ClassConvergenceTerm,
    CrossEntropyTerm,
    EtfSeparationTerm,
    KgCoOpAnchorTerm,
    LossCollection,
    RotationStabilizationTerm,
)

from .conftest import run_config, write_config

CPT_METHOD = str(Path(__file__).resolve().parents[2] / "configs" / "methods" / "cpt.yaml")


def _cpt(**weights: float) -> LossCollection:
    terms = [
        EtfSeparationTerm(weights.get("etf", 1.0)),
        ClassConvergenceTerm(weights.get("conv", 1.0)),
        RotationStabilizationTerm(weights.get("rot", 1.0)),
    ]
    return LossCollection([CrossEntropyTerm(), *terms])


def test_cpt_with_proper_clusters_is_not_degenerate():
    from cpt_lightning.callbacks.degenerate_settings import degenerate_settings

    assert degenerate_settings(_cpt(), torch.tensor([0, 0, 1, 1, 2]), max_cluster_size=2) == []
    # Without cluster-aware terms, clusters cannot make a method degenerate.
    coop = LossCollection([CrossEntropyTerm(), KgCoOpAnchorTerm()])
    assert degenerate_settings(coop, torch.arange(5), max_cluster_size=1) == []


def test_each_degenerate_setting_names_its_consequence():
    from cpt_lightning.callbacks.degenerate_settings import degenerate_settings

    (zero_weight,) = degenerate_settings(_cpt(etf=0.0), torch.tensor([0, 0, 1, 1]), max_cluster_size=2)
    assert "'etf' has weight 0, so it is skipped" in zero_weight
    (singletons,) = degenerate_settings(_cpt(), torch.arange(4), max_cluster_size=1)
    assert "['etf', 'conv', 'rot'] have nothing to act on" in singletons and "['ce'] only" in singletons
    (too_large,) = degenerate_settings(_cpt(), torch.zeros(4, dtype=torch.long), max_cluster_size=4)
    assert "max_cluster_size=4 >= 4 training classes" in too_large and "NPT-like" in too_large


@pytest.mark.slow
def test_a_fit_with_all_singleton_clusters_warns_once(tiny_clip_dir, tmp_path, fault_log):
    config = write_config(tmp_path / "run.yaml", run_config(tiny_clip_dir, tmp_path / "run"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["fit", "--config", str(config), "--config", CPT_METHOD, "--clusters.max_cluster_size", "1"])
    messages = [str(w.message) for w in caught if "Degenerate settings" in str(w.message)]
    assert len(messages) == 1
    assert "every one of the 3 classes is its own cluster" in messages[0]
    fault_log("CPT with `--clusters.max_cluster_size 1` (every cluster a singleton)", messages[0])
