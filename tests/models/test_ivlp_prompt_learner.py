"""The IVLP host: plain CLIP without prompts, prompts exactly where MaPLe puts them, gradients into prompts only."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

from cpt_lightning.models import FrozenClip, IVLPPromptLearner
from cpt_lightning.testing import save_random_clip, tiny_clip_config

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "sea lion", "Boeing 737-800", "great white shark"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, clip_tokenizer) -> FrozenClip:
    """A tiny random CLIP with 4 layers per tower, so depths 0 < d < layers can be told apart."""
    config = tiny_clip_config(clip_tokenizer, num_layers=4)
    return FrozenClip.from_pretrained(str(save_random_clip(tmp_path_factory.mktemp("clip4"), clip_tokenizer, config)))


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _plain_text_features(clip: FrozenClip, classnames: list[str], output_hidden_states: bool = False):
    tokens = clip.tokenizer([f"a photo of a {n}." for n in classnames], padding=True, return_tensors="pt")
    out = clip.model.text_model(**tokens, output_hidden_states=output_hidden_states)
    return F.normalize(clip.model.text_projection(out.pooler_output), dim=-1), out.hidden_states


def _run_layer(layer: torch.nn.Module, hidden_states: torch.Tensor) -> torch.Tensor:
    # transformers 4.5x: layer(h, attention_mask, causal_attention_mask) -> tuple; 5.x: layer(h, attention_mask) -> h.
    parameters = inspect.signature(layer.forward).parameters.values()
    required = [p for p in parameters if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    out = layer(hidden_states, *[None] * (len(required) - 1))
    return out[0] if isinstance(out, tuple) else out


def _reference_prompted_image_features(clip: FrozenClip, pixel_values: torch.Tensor, prompts: torch.Tensor):
    """MaPLe's vision tower written out by hand: append after the embeddings, replace the last n tokens per layer."""
    vision = clip.model.vision_model
    depth, n, _ = prompts.shape
    batch = pixel_values.shape[0]
    hidden = torch.cat([vision.embeddings(pixel_values), prompts[0].expand(batch, -1, -1)], dim=1)
    hidden = vision.pre_layrnorm(hidden)
    for index, layer in enumerate(vision.encoder.layers):
        if 1 <= index < depth:
            hidden = torch.cat([hidden[:, :-n], prompts[index].expand(batch, -1, -1)], dim=1)
        hidden = _run_layer(layer, hidden)
    pooled = vision.post_layernorm(hidden[:, 0])
    return F.normalize(clip.model.visual_projection(pooled), dim=-1)


@torch.no_grad()
def test_depth_zero_is_plain_clip_bit_for_bit(clip, images):
    learner = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=0, prompt_depth_vision=0)
    assert not list(learner.parameters())
    assert not learner.prompts_images
    plain_images = F.normalize(clip.model.visual_projection(clip.model.vision_model(images).pooler_output), dim=-1)
    assert torch.equal(learner.encode_images(clip, images), plain_images)
    assert torch.equal(learner.encode_text(clip, CLASSNAMES), _plain_text_features(clip, CLASSNAMES)[0])


@torch.no_grad()
def test_text_depth_one_from_phrase_reproduces_clip_text_features(clip):
    learner = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=1, prompt_depth_vision=0)
    phrase_ids = clip.tokenizer("a photo of a", add_special_tokens=False)["input_ids"]
    assert learner.text_prompts.shape == (1, 4, 32)
    assert torch.equal(learner.text_prompts[0], clip.token_embedding.weight[phrase_ids])
    assert torch.equal(learner.encode_text(clip, CLASSNAMES), _plain_text_features(clip, CLASSNAMES)[0])


@torch.no_grad()
def test_deep_text_prompts_replace_the_hidden_states_after_the_start_token_in_each_layer(clip):
    # Under the causal mask, CLIP's hidden states at positions 1..4 of "a photo of a {name}." depend on
    # "[SOT] a photo of a" only. Deep prompts set to exactly those states must leave the output unchanged,
    # which holds only if layer i's prompts land at positions 1..4 of the hidden states entering layer i.
    depth = 3
    reference, hidden_states = _plain_text_features(clip, CLASSNAMES, output_hidden_states=True)
    learner = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=depth, prompt_depth_vision=0)
    assert not torch.allclose(learner.text_prompts[1], hidden_states[1][0, 1:5])
    for layer in range(1, depth):
        learner.text_prompts[layer] = hidden_states[layer][0, 1:5]
    torch.testing.assert_close(learner.encode_text(clip, CLASSNAMES), reference, rtol=0, atol=1e-6)

    # The last prompted layer's tokens do reach the pooled end token.
    learner.text_prompts[depth - 1] += torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(learner.encode_text(clip, CLASSNAMES), reference, atol=1e-4)


@pytest.mark.parametrize("depth", [1, 3, 4])
@torch.no_grad()
def test_vision_prompts_match_a_hand_written_maple_vision_tower(clip, images, depth):
    learner = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=0, prompt_depth_vision=depth, seed=depth)
    assert learner.prompts_images
    assert learner.vision_prompts.shape == (depth, 4, 32)
    expected = _reference_prompted_image_features(clip, images, learner.vision_prompts)
    torch.testing.assert_close(learner.encode_images(clip, images), expected, rtol=0, atol=1e-6)
    assert not torch.allclose(expected, clip.encode_images(images), atol=1e-4)


def test_hooks_live_only_while_encoding(clip, images):
    learner = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=4, prompt_depth_vision=4)
    text_model, vision_model = clip.model.text_model, clip.model.vision_model
    hooked = [clip.token_embedding, vision_model.embeddings, *text_model.encoder.layers, *vision_model.encoder.layers]
    plain = clip.encode_images(images)
    # transformers 5.x keeps hooks of its own on encoder layers (output capturing): compare, don't expect none.
    hooks_before = [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in hooked]
    with torch.no_grad():
        learner.encode_text(clip, CLASSNAMES)
        learner.encode_images(clip, images)
    with pytest.raises(ValueError, match="doesn't match model"):  # HF's own error, raised while hooks are on
        learner.encode_images(clip, images[:, :, :16, :16])
    assert [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in hooked] == hooks_before
    assert torch.equal(clip.encode_images(images), plain)


def test_only_prompts_receive_gradients_in_every_prompted_layer(clip, images):
    depth_text, depth_vision = 3, 2
    learner = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=depth_text, prompt_depth_vision=depth_vision)
    text = learner.encode_text(clip, CLASSNAMES)
    image = learner.encode_images(clip, images)
    (image @ text.t()).square().sum().backward()
    assert [name for name, p in learner.named_parameters()] == ["text_prompts", "vision_prompts"]
    for layer in range(depth_text):
        assert learner.text_prompts.grad[layer].abs().sum() > 0, f"text prompts of layer {layer} got no gradient"
    for layer in range(depth_vision):
        assert learner.vision_prompts.grad[layer].abs().sum() > 0, f"vision prompts of layer {layer} got no gradient"
    assert all(p.grad is None for p in clip.parameters())


def test_default_depths_fit_a_twelve_layer_clip(tmp_path, clip_tokenizer):
    config = tiny_clip_config(clip_tokenizer, num_layers=12)
    twelve = FrozenClip.from_pretrained(str(save_random_clip(tmp_path, clip_tokenizer, config)))
    learner = IVLPPromptLearner(twelve, CLASSNAMES)
    assert learner.text_prompts.shape == (9, 4, 32)
    assert learner.vision_prompts.shape == (9, 4, 32)
    # Deeper prompts start random (MaPLe's N(0, 0.02^2)), not as copies of the phrase.
    assert 0.01 < learner.text_prompts[1:].std().item() < 0.03
    assert 0.01 < learner.vision_prompts.std().item() < 0.03
    with torch.no_grad():
        assert learner.encode_text(twelve, CLASSNAMES).shape == (4, 16)


def test_depth_beyond_the_towers_layers_names_the_range(clip):
    with pytest.raises(ValueError, match=r"prompt_depth_vision=9, but this CLIP's vision tower has 4 layers.*0.*4"):
        IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=4)
    with pytest.raises(ValueError, match=r"prompt_depth_text=5, but this CLIP's text tower has 4 layers"):
        IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=5, prompt_depth_vision=4)


def test_bad_token_counts_name_the_fix(clip):
    with pytest.raises(ValueError, match="Set n_ctx_text=4"):
        IVLPPromptLearner(clip, CLASSNAMES, n_ctx_text=2, prompt_depth_text=2, prompt_depth_vision=2)
    with pytest.raises(ValueError, match="prompt_depth_vision=0"):
        IVLPPromptLearner(clip, CLASSNAMES, n_ctx_vision=0, prompt_depth_text=2, prompt_depth_vision=2)
    random_init = IVLPPromptLearner(
        clip, CLASSNAMES, n_ctx_text=2, ctx_init=None, prompt_depth_text=2, prompt_depth_vision=0
    )
    assert random_init.text_prompts.shape == (2, 2, 32)


def test_chunked_checkpointed_text_gradients_equal_the_naive_computation(clip):
    naive = IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=3, prompt_depth_vision=0)
    bounded = IVLPPromptLearner(
        clip, CLASSNAMES, prompt_depth_text=3, prompt_depth_vision=0, text_batch_size=3, checkpoint_text=True
    )
    target = torch.randn(len(CLASSNAMES), clip.config.projection_dim, generator=torch.Generator().manual_seed(3))
    grads = []
    for learner in (naive, bounded):
        (learner.encode_text(clip, CLASSNAMES) * target).sum().backward()
        grads.append(learner.text_prompts.grad.clone())
    assert all(grads[0][layer].abs().sum() > 0 for layer in range(3))
    # Deep-prompt gradients are O(1) (hidden-state scale): compare relative to that, float32 summation order aside.
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="text_batch_size must be >= 1"):
        IVLPPromptLearner(clip, CLASSNAMES, prompt_depth_text=3, prompt_depth_vision=0, text_batch_size=0)
