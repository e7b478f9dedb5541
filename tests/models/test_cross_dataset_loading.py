"""`CPTModule.load_from_checkpoint(path, classnames=other)` for any checkpoint: groups, clusters and the
loss terms' per-class state are rebuilt for the new classes, and nothing is said about the frozen CLIP."""

from __future__ import annotations

import warnings

import pytest
import torch
from lightning.pytorch import Trainer

from cpt_lightning.callbacks import ClusterAssignmentCallback
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.losses import ClassConvergenceTerm, CrossEntropyTerm, EtfSeparationTerm
from cpt_lightning.models import CPTModule

pytestmark = pytest.mark.model

SOURCE = ["cat", "sea lion", "great white shark", "dog", "tabby cat"]
GROUPS = ["head", "head", "medium", "tail", "tail"]  # as a tau < 1 data module gives them
TARGET = ["airliner", "goldfish", "tree frog"]


def _cpt_terms():
    return [CrossEntropyTerm(), EtfSeparationTerm(), ClassConvergenceTerm(variant="cluster_local")]


@pytest.fixture(scope="module")
def cpt_checkpoint(tiny_clip_dir, tmp_path_factory):
    """A CPT checkpoint of an imbalanced run: class groups, clusters and class-wise running means."""
    work = tmp_path_factory.mktemp("cpt_run")
    module = CPTModule(SOURCE, clip_name_or_path=str(tiny_clip_dir), class_groups=GROUPS, loss_terms=_cpt_terms())
    trainer = Trainer(
        max_steps=2, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, default_root_dir=work, callbacks=[ClusterAssignmentCallback(max_cluster_size=2)],
    )  # fmt: skip
    trainer.fit(module, GeneratedDataModule(SOURCE, class_groups=GROUPS, batch_size=5))
    path = work / "cpt.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert state["cluster_ids"].shape == (len(SOURCE),)
    assert state["loss.terms.conv.class_image_means"].shape[0] == len(SOURCE)  # per-class state was saved
    return path, module.prompt_learner.ctx.detach().clone()


def _load_quietly(capfd, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = CPTModule.load_from_checkpoint(*args, **kwargs)
    out, err = capfd.readouterr()
    return module, [str(w.message) for w in caught], out + err


@pytest.mark.parametrize("terms", [None, _cpt_terms], ids=["default_objective", "cpt_objective"])
def test_a_tau_checkpoint_loads_for_other_classes_with_state_rebuilt(cpt_checkpoint, capfd, terms):
    path, ctx = cpt_checkpoint
    extra = {} if terms is None else {"loss_terms": terms()}
    module, warned, printed = _load_quietly(capfd, path, classnames=TARGET, **extra)
    assert module.classnames == TARGET
    assert module.class_groups is None  # the saved groups describe the source classes
    assert torch.equal(module.prompt_learner.ctx, ctx)
    assert module.cluster_ids.numel() == 0  # recomputed at the next fit start
    if terms is not None:
        assert module.loss.terms["conv"].class_image_means.numel() == 0  # rebuilt on first use
    assert module.prompted_text_features().shape[0] == len(TARGET)
    assert not [w for w in warned if "clip." in w or "Found keys" in w], warned
    assert "clip." not in printed


def test_groups_for_the_new_classes_can_be_given(cpt_checkpoint, capfd):
    path, _ = cpt_checkpoint
    module, _, _ = _load_quietly(capfd, path, classnames=TARGET, class_groups=["head", "medium", "tail"])
    assert module.class_groups == ["head", "medium", "tail"]


def test_the_same_classes_keep_groups_clusters_and_state_without_a_word(cpt_checkpoint, capfd):
    path, ctx = cpt_checkpoint
    module, warned, printed = _load_quietly(capfd, path, loss_terms=_cpt_terms())
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert module.class_groups == GROUPS
    assert torch.equal(module.cluster_ids, saved["cluster_ids"])
    assert torch.equal(module.loss.terms["conv"].class_image_means, saved["loss.terms.conv.class_image_means"])
    assert not [w for w in warned if "Found keys" in w], warned
    assert "clip." not in printed
