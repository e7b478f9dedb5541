"""Encoding the shared "[SOT] v_1 .. v_n" once gives HF's own full forward: features and gradients."""

from __future__ import annotations

import pytest
import torch

from cpt_lightning.models import CoOpPromptLearner, FrozenClip
from cpt_lightning.models.shared_prefix_text import encode_with_shared_prefix

pytestmark = pytest.mark.model

# Names of 1 to 6 BPE tokens, so the rows are padded to different lengths.
CLASSNAMES = ["cat", "sea lion", "Boeing 737-800", "great white shark", "t-shirt", "dog"]


def _features_and_gradient(clip: FrozenClip, classnames: list[str], shared_prefix: bool, ctx: torch.Tensor):
    learner = CoOpPromptLearner(clip, classnames, n_ctx_text=ctx.shape[0], ctx_init=None, shared_prefix=shared_prefix)
    with torch.no_grad():
        learner.ctx.copy_(ctx)
    features = learner.encode_text(clip, classnames)
    weights = torch.linspace(-1.0, 1.0, features.numel()).view_as(features)  # any loss that mixes every entry
    (features * weights).sum().backward()
    return features.detach(), learner.ctx.grad.detach()


def _compare(clip: FrozenClip, classnames: list[str], n_ctx: int) -> None:
    ctx = torch.randn(n_ctx, clip.token_embedding.weight.shape[1], generator=torch.Generator().manual_seed(0)) * 0.3
    shared, shared_grad = _features_and_gradient(clip, classnames, True, ctx)
    full, full_grad = _features_and_gradient(clip, classnames, False, ctx)
    torch.testing.assert_close(shared, full, rtol=0, atol=2e-6)
    torch.testing.assert_close(shared_grad, full_grad, rtol=1e-4, atol=1e-6)
    assert full_grad.abs().max() > 1e-4  # the gradient is not trivially zero


def test_the_tiny_clip_gets_hf_features_and_context_gradients(tiny_clip_dir):
    _compare(FrozenClip.from_pretrained(str(tiny_clip_dir)), CLASSNAMES, n_ctx=4)


def test_the_world_clip_gets_hf_features_and_context_gradients():
    from cpt_lightning.data.world import WorldDataModule

    _compare(FrozenClip.from_pretrained("builtin:world_clip"), WorldDataModule("night").classnames, n_ctx=4)


def test_the_legacy_end_token_rule_pools_where_hf_pools(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    clip.model.text_model.eos_token_id = 2  # configs from before transformers PR 24773: pool at the highest id
    _compare(clip, CLASSNAMES, n_ctx=2)


def test_a_prompt_that_ends_inside_the_prefix_is_refused(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    ids = clip.tokenize(["cat"])["input_ids"]  # [SOT] cat [EOT]: 3 tokens
    prefix = clip.token_embedding(ids[:, :3])
    with pytest.raises(ValueError, match="ends inside the shared prefix"):
        encode_with_shared_prefix(clip, prefix, ids, 3)
