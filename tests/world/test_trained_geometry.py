"""The hierarchy after training is read from each finished run's prompts.ckpt, under its own clusters."""

from __future__ import annotations

import functools
import json

import pytest
import torch
from lightning.pytorch import Trainer
from threadpoolctl import threadpool_limits

from cpt_lightning.callbacks import ClusterAssignmentCallback
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.models import CPTModule
from cpt_lightning.reproduce.claims import NOT_MEASURABLE, main_claims
from cpt_lightning.tools.world_facts import effective_rank, hierarchy_margin
from cpt_lightning.tools.world_trained_geometry import geometry_lines, study_geometry

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish"]


def test_study_geometry_measures_every_trained_runs_checkpoint(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir),
                       optimizer=functools.partial(torch.optim.AdamW, lr=0.1))  # fmt: skip
    trainer = Trainer(max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      default_root_dir=tmp_path, callbacks=[ClusterAssignmentCallback(max_cluster_size=3)])  # fmt: skip
    with threadpool_limits(1):
        trainer.fit(module, GeneratedDataModule(CLASSNAMES, batch_size=8))
    for method, fit in (("npt", True), ("zeroshot", False)):
        run_dir = tmp_path / "study" / "tau=0.06" / "toy" / method / "seed1"
        run_dir.mkdir(parents=True)
        spec = {"setting": "tau=0.06", "dataset": "toy", "method": method, "seed": 1, "fit": fit}
        (run_dir / "results.json").write_text(json.dumps({"spec": spec, "tests": {}}))
        trainer.save_checkpoint(run_dir / "prompts.ckpt")
    with threadpool_limits(1):
        scores = study_geometry(tmp_path / "study")
    assert list(scores) == [("tau=0.06", "toy", "npt")]  # the zero-shot run trained nothing
    measured = scores[("tau=0.06", "toy", "npt")][1]
    with torch.no_grad():
        tuned, frozen = module.prompted_text_features(), module.zero_shot_text_features()
    assert measured["margin"] == pytest.approx(hierarchy_margin(tuned, module.cluster_ids), abs=1e-5)
    assert measured["margin_frozen"] == pytest.approx(hierarchy_margin(frozen, module.cluster_ids), abs=1e-5)
    assert measured["erank"] == pytest.approx(effective_rank(tuned), abs=1e-4)
    assert measured["margin"] != pytest.approx(measured["margin_frozen"])  # the prompts moved
    assert geometry_lines(scores)[-1].startswith("| tau=0.06 | npt | 1 | ")
    (claim,) = [c for c in main_claims({}, scores) if "flattens" in c.statement]
    assert claim.verdict == NOT_MEASURABLE  # CPT has no run to pair with
