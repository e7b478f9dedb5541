"""CPTModule trains prompts only, checkpoints prompts only, and transfers to other classes."""

from __future__ import annotations

import functools

import pytest
import torch

from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.models import CPTModule
from cpt_lightning.testing import quiet_trainer

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "sea lion", "great white shark", "dog"]


_sgd_lr_01 = functools.partial(torch.optim.SGD, lr=0.1)


def test_one_optimizer_step_changes_only_prompt_parameters(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), optimizer=_sgd_lr_01)
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    assert trainable == {"prompt_learner.ctx"}
    before = {k: v.clone() for k, v in module.clip.state_dict().items()}
    ctx_before = module.prompt_learner.ctx.detach().clone()

    quiet_trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(module, GeneratedDataModule(CLASSNAMES))

    assert not torch.equal(module.prompt_learner.ctx.detach(), ctx_before)
    after = module.clip.state_dict()
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), f"frozen CLIP weight {name} changed"
    assert not module.clip.model.training  # frozen backbone stays in eval mode during fit


def test_checkpoint_holds_only_prompts_and_transfers_to_other_classes(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), optimizer=_sgd_lr_01)
    trainer = quiet_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, GeneratedDataModule(CLASSNAMES))
    path = tmp_path / "prompts.ckpt"
    trainer.save_checkpoint(path)

    state = torch.load(path, weights_only=True)["state_dict"]  # plain data: loads without trusting code
    assert not [k for k in state if k.startswith("clip.")]
    assert "prompt_learner.ctx" in state

    other = ["airliner", "tabby cat", "goldfish"]
    transferred = CPTModule.load_from_checkpoint(path, classnames=other)
    assert transferred.classnames == other
    assert torch.equal(transferred.prompt_learner.ctx, module.prompt_learner.ctx)
    assert transferred.prompted_text_features().shape[0] == len(other)


def test_vit_b16_sized_checkpoint_is_under_one_megabyte(tmp_path, clip_tokenizer):
    from cpt_lightning.testing import save_random_clip, vit_b16_config

    config = vit_b16_config(clip_tokenizer)  # openai/clip-vit-base-patch16's architecture, random weights
    clip_dir = save_random_clip(tmp_path / "vit_b16", clip_tokenizer, config=config)
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(clip_dir), optimizer=_sgd_lr_01)
    assert module.prompt_learner.ctx.shape == (4, 512)
    data = GeneratedDataModule(CLASSNAMES, train_per_class=1, image_size=224, batch_size=2)
    trainer = quiet_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(module, data)
    path = tmp_path / "vit_b16.ckpt"
    trainer.save_checkpoint(path)
    assert path.stat().st_size < 1_000_000, f"checkpoint is {path.stat().st_size} bytes"


def test_zero_shot_module_has_nothing_to_fit(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=None)
    assert not [p for p in module.parameters() if p.requires_grad]
    with pytest.raises(RuntimeError, match="cpt test"):
        quiet_trainer(tmp_path, max_steps=1).fit(module, GeneratedDataModule(CLASSNAMES))
