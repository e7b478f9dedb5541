"""Sharing a tuned prompt: save_pretrained / from_pretrained round-trips bit for bit, with a model card."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
import torch
from lightning.pytorch import Trainer

from cpt_lightning.callbacks import ClusterAssignmentCallback
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.losses import ClassConvergenceTerm, CrossEntropyTerm, EtfSeparationTerm
from cpt_lightning.models import CPTModule
from cpt_lightning.models.tuned_prompt import PROMPT_FILE, TunedPrompt

CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish"]


@pytest.fixture
def shared(tiny_clip_dir, tmp_path):
    data = GeneratedDataModule(CLASSNAMES, train_per_class=2, eval_per_class=2, batch_size=6)
    terms = [CrossEntropyTerm(), EtfSeparationTerm(weight=0.5), ClassConvergenceTerm(weight=2.0, variant="plain")]
    module = CPTModule(data.classnames, clip_name_or_path=str(tiny_clip_dir), loss_terms=terms)
    clusters = ClusterAssignmentCallback(max_cluster_size=3, method="euclidean", seed=4)
    trainer = Trainer(
        accelerator="cpu", max_steps=3, limit_val_batches=0, callbacks=[clusters], logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, data)
    trainer.test(module, data)
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("test/")}
    prompt = TunedPrompt.from_module(module, data, clusters, metrics)
    return module.eval(), data, prompt, metrics


def test_from_pretrained_of_save_pretrained_gives_the_same_prompts_and_logits(shared, tmp_path):
    module, data, prompt, _ = shared
    prompt.save_pretrained(tmp_path / "prompt")
    loaded = TunedPrompt.from_pretrained(tmp_path / "prompt").to_module()
    for (name, original), (loaded_name, restored) in zip(
        module.prompt_learner.state_dict().items(), loaded.prompt_learner.state_dict().items(), strict=True
    ):
        assert name == loaded_name and torch.equal(original, restored), name  # bit for bit
    assert torch.equal(loaded.cluster_ids, module.cluster_ids) and module.cluster_ids.numel() == len(CLASSNAMES)
    data.setup("test")
    pixel_values, _ = next(iter(data.test_dataloader()))
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values), module(pixel_values))
    assert [type(term) for term in loaded.loss.terms.values()] == [type(t) for t in module.loss.terms.values()]
    assert [term.weight for term in loaded.loss.terms.values()] == [1.0, 0.5, 2.0]


def test_the_model_card_lists_the_run(shared, tmp_path, tiny_clip_dir):
    _, _, prompt, metrics = shared
    prompt.save_pretrained(tmp_path / "prompt")
    card = (tmp_path / "prompt" / "README.md").read_text()
    assert str(tiny_clip_dir) in card  # base CLIP
    assert "`CoOpPromptLearner` n_ctx_text=4, class_specific=False" in card  # host
    assert "`EtfSeparationTerm` (0.5" in card and "`ClassConvergenceTerm` (2.0, variant=plain" in card
    assert "max_cluster_size=3, method=euclidean, seed=4" in card  # cluster settings
    assert "`GeneratedDataModule`" in card and "train_per_class=2" in card  # training data
    assert "6: cat, dog, sea lion, shark, airliner, goldfish" in card  # class names
    assert metrics and all(f"`{key}`: {value:.4f}" in card for key, value in metrics.items())
    assert "library_name: cpt_lightning" in card  # hub metadata


def test_push_to_hub_uploads_the_saved_folder(shared, monkeypatch):
    _, _, prompt, _ = shared
    uploaded = {}

    def create_repo(self, repo_id, **kwargs):
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded.update({"repo_id": repo_id, "files": sorted(p.name for p in Path(folder_path).iterdir())})

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    prompt.push_to_hub("someone/cpt-prompt")
    assert uploaded == {"repo_id": "someone/cpt-prompt", "files": ["README.md", "config.json", PROMPT_FILE]}


def test_a_zero_shot_module_has_no_prompt_to_share(tiny_clip_dir):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=None)
    with pytest.raises(ValueError, match="no prompt"):
        TunedPrompt.from_module(module)


def test_cpt_test_with_a_share_path_saves_the_tested_prompt(shared, tmp_path):
    from cpt_lightning.callbacks import SharePrompt

    module, data, _, metrics = shared
    share = SharePrompt(path=str(tmp_path / "from_test"))
    trainer = Trainer(
        accelerator="cpu", callbacks=[share], logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.test(module, data)
    loaded = TunedPrompt.from_pretrained(share.saved)
    assert loaded.config["test_metrics"] == metrics  # the same prompts tested again: the same numbers
    assert loaded.config["training_data"]["class_path"].endswith("GeneratedDataModule")


def test_the_training_data_names_its_dataset():
    from cpt_lightning.data.world import WorldDataModule
    from cpt_lightning.models.tuned_prompt import _describe_data

    described = _describe_data(WorldDataModule("night", shots=4, tau=0.25))
    assert described["name"] == "world-night"  # WorldDataModule keeps `dataset` only as an object
    assert described["init_args"]["shots"] == 4 and described["init_args"]["tau"] == 0.25


def test_imbalance_aware_terms_are_rebuilt_with_the_class_counts(tiny_clip_dir, tmp_path):
    from cpt_lightning.losses.balanced_softmax import BalancedSoftmaxTerm

    module = CPTModule(
        ["cat", "dog", "owl"], clip_name_or_path=str(tiny_clip_dir), loss_terms=[BalancedSoftmaxTerm()],
        class_counts=[5, 2, 1],
    )  # fmt: skip
    TunedPrompt.from_module(module).save_pretrained(tmp_path / "prompt")
    loaded = TunedPrompt.from_pretrained(tmp_path / "prompt").to_module()
    assert loaded.class_counts.tolist() == [5.0, 2.0, 1.0]
    assert [type(term) for term in loaded.loss.terms.values()] == [BalancedSoftmaxTerm]
