"""CPTModule with the IVLP host: trains prompts only, checkpoints prompts only, and is chosen from YAML."""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import pytest
import torch
import yaml
from threadpoolctl import threadpool_limits

from cpt_lightning.cli import main
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.models import CPTModule, IVLPPromptLearner
from cpt_lightning.testing import quiet_trainer

pytestmark = pytest.mark.model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CLASSNAMES = ["cat", "sea lion", "great white shark", "dog"]
PROMPTS = {"prompt_learner.text_prompts", "prompt_learner.vision_prompts"}

# The tiny CLIP has 2 layers per tower: prompts in both.
_ivlp = functools.partial(IVLPPromptLearner, prompt_depth_text=2, prompt_depth_vision=2)
_sgd = functools.partial(torch.optim.SGD, lr=0.1)


def test_one_optimizer_step_changes_only_prompt_parameters(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=_ivlp, optimizer=_sgd)
    assert {name for name, p in module.named_parameters() if p.requires_grad} == PROMPTS
    frozen_before = {k: v.clone() for k, v in module.clip.state_dict().items()}
    prompts_before = {k: v.detach().clone() for k, v in module.prompt_learner.named_parameters()}

    quiet_trainer(tmp_path, limit_val_batches=0, max_steps=1).fit(module, GeneratedDataModule(CLASSNAMES))

    for name, before in prompts_before.items():
        assert not torch.equal(getattr(module.prompt_learner, name).detach(), before), f"{name} did not move"
    frozen_after = module.clip.state_dict()
    assert frozen_before.keys() == frozen_after.keys()
    for name, tensor in frozen_before.items():
        assert torch.equal(tensor, frozen_after[name]), f"frozen CLIP weight {name} changed"


def test_checkpoint_holds_only_prompts_and_transfers_to_other_classes(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=_ivlp, optimizer=_sgd)
    trainer = quiet_trainer(tmp_path, limit_val_batches=0, max_steps=2)
    trainer.fit(module, GeneratedDataModule(CLASSNAMES))
    path = tmp_path / "prompts.ckpt"
    trainer.save_checkpoint(path)

    state = torch.load(path, weights_only=True)["state_dict"]
    assert set(state) >= PROMPTS
    others = {k: v for k, v in state.items() if not k.startswith("prompt_learner.")}
    assert not [k for k in others if k.startswith("clip.")]
    assert sum(v.numel() for v in others.values()) <= len(CLASSNAMES), f"unexpected tensors: {sorted(others)}"

    other_classes = ["airliner", "tabby cat", "goldfish"]
    transferred = CPTModule.load_from_checkpoint(path, classnames=other_classes)
    assert isinstance(transferred.prompt_learner, IVLPPromptLearner)
    for name in ("text_prompts", "vision_prompts"):
        assert torch.equal(getattr(transferred.prompt_learner, name), getattr(module.prompt_learner, name))
    pixel_values = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert transferred(pixel_values).shape == (2, len(other_classes))
        assert torch.equal(transferred.encode_images(pixel_values), module.encode_images(pixel_values))


@pytest.mark.slow
def test_cpt_preset_fits_on_the_ivlp_host_from_yaml_and_checkpoints_prompts_only(tiny_clip_dir, tmp_path):
    run = {
        "seed_everything": 3,
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 1,
            "log_every_n_steps": 1,
            "num_sanity_val_steps": 0,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(tmp_path / "run"),
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path)}},
        },
        "model": {"clip_name_or_path": str(tiny_clip_dir)},
        "data": {
            "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
            "init_args": {"classnames": CLASSNAMES, "train_per_class": 4, "eval_per_class": 1, "batch_size": 8},
        },
    }
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump(run))
    args = ["--config", str(run_file)]
    args += ["--config", str(CONFIGS / "methods" / "cpt.yaml"), "--model", str(CONFIGS / "hosts" / "ivlp.yaml")]
    depths = [
        "--model.prompt_learner.init_args.prompt_depth_text=2",
        "--model.prompt_learner.init_args.prompt_depth_vision=1",
    ]
    with pytest.raises(ValueError, match="prompt_depth_text=9, but this CLIP.s text tower has 2 layers"):
        main(["fit", *args])  # the host's ViT-B/16 default, on a 2-layer CLIP

    with threadpool_limits(1):
        fitted = main(["fit", *args, *depths])

    module = fitted.model
    learner = module.prompt_learner
    assert isinstance(learner, IVLPPromptLearner)
    assert (learner.text_prompts.shape[0], learner.vision_prompts.shape[0]) == (2, 1)
    assert sorted(module.loss.terms) == ["ce", "conv", "etf", "rot"]
    initial = IVLPPromptLearner(module.clip, CLASSNAMES, prompt_depth_text=2, prompt_depth_vision=1)
    assert not torch.equal(learner.text_prompts.cpu(), initial.text_prompts)
    assert not torch.equal(learner.vision_prompts.cpu(), initial.vision_prompts)
    assert module.cluster_ids.shape == (len(CLASSNAMES),)
    with open(Path(fitted.trainer.logger.log_dir) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    for key in ("train/loss_ce", "train/loss_etf", "train/loss_conv", "train/loss_rot", "val/nc1"):
        values = [float(row[key]) for row in rows if row.get(key)]
        assert values and all(math.isfinite(v) for v in values), f"{key}: {values}"

    path = tmp_path / "ivlp-cpt.ckpt"
    fitted.trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["state_dict"]
    # Prompts, plus the training state the CPT terms need to resume: clusters and the running image means.
    running_means = {"loss.terms.conv.class_image_means", "loss.terms.conv.class_seen"}
    assert set(state) == PROMPTS | {"cluster_ids"} | running_means
    assert torch.equal(state["cluster_ids"], module.cluster_ids)
