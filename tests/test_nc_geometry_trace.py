"""NCGeometryTrace logs each cluster's geometry over training, starting from the frozen prototypes."""

from __future__ import annotations

import csv
import functools

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger
from threadpoolctl import threadpool_limits

from cpt_lightning.callbacks import ClusterAssignmentCallback, NCGeometryTrace
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.losses import (
    ClassConvergenceTerm,
    CrossEntropyTerm,
    EtfSeparationTerm,
    RotationStabilizationTerm,
)
from cpt_lightning.models import CPTModule
from tests.losses.test_etf_separation import numpy_etf_loss

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish", "tabby", "tiger"]


def test_trace_starts_at_the_frozen_geometry_and_has_a_row_per_cluster_and_step(tiny_clip_dir, tmp_path):
    terms = [CrossEntropyTerm(), EtfSeparationTerm(), ClassConvergenceTerm(), RotationStabilizationTerm()]
    module = CPTModule(
        CLASSNAMES,
        clip_name_or_path=str(tiny_clip_dir),
        loss_terms=terms,
        optimizer=functools.partial(torch.optim.AdamW, lr=0.05),
    )
    trace = NCGeometryTrace(every_n_steps=2)
    trainer = Trainer(
        max_steps=4, accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, limit_val_batches=0, default_root_dir=tmp_path, log_every_n_steps=1,
        logger=CSVLogger(tmp_path), callbacks=[ClusterAssignmentCallback(max_cluster_size=4), trace],
    )  # fmt: skip
    with threadpool_limits(1):
        trainer.fit(module, GeneratedDataModule(CLASSNAMES, train_per_class=4, batch_size=8))
    with trace.path.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    ids = module.cluster_ids
    multi = [c for c in torch.unique(ids).tolist() if int((ids == c).sum()) >= 2]
    assert sorted({int(row["step"]) for row in rows}) == [0, 2]
    assert len(rows) == 2 * len(multi)
    first = [row for row in rows if row["step"] == "0"]
    # CoOp starts from "a photo of a", the frozen template: the tuned prototypes are the frozen ones.
    assert all(float(row["procrustes_residual"]) < 1e-6 for row in first)
    frozen = module.frozen_text_features.double().numpy()
    for row in first:
        cluster = int(row["cluster"])
        members = ids.numpy() == cluster
        assert int(row["size"]) == members.sum()
        expected = numpy_etf_loss(frozen[members], np.zeros(members.sum()), centred=True)
        assert float(row["etf_deviation"]) == pytest.approx(expected, rel=1e-4, abs=1e-7)
    later = [float(row["procrustes_residual"]) for row in rows if row["step"] == "2"]
    assert max(later) > 0.0  # the prompts moved
    with pytest.raises(ValueError, match="every_n_steps must be >= 1"):
        NCGeometryTrace(every_n_steps=0)
