"""The CoOp host reproduces CLIP's own text features and trains nothing but its context."""

from __future__ import annotations

import pytest
import torch

from cpt_lightning.models import CoOpPromptLearner, FrozenClip

pytestmark = pytest.mark.model

# Several names span several BPE tokens (and one has punctuation inside).
CLASSNAMES = ["cat", "sea lion", "Boeing 737-800", "great white shark", "t-shirt", "dog"]


def test_clip_tokenizer_matches_openai_ids(clip_tokenizer):
    assert clip_tokenizer("a photo of a cat.")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 269, 49407]


def test_context_initialised_from_phrase_reproduces_clip_text_features(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    learner = CoOpPromptLearner(clip, CLASSNAMES, n_ctx_text=4, ctx_init="a photo of a")
    # The acceptance line: context set to the token embeddings of "a photo of a".
    phrase_ids = clip.tokenizer("a photo of a", add_special_tokens=False)["input_ids"]
    assert torch.equal(learner.ctx.detach(), clip.token_embedding.weight[phrase_ids])
    assert any(len(clip.tokenizer(n, add_special_tokens=False)["input_ids"]) > 2 for n in CLASSNAMES)

    with torch.no_grad():
        prompted = learner.encode_text(clip, CLASSNAMES)
        reference_tokens = clip.tokenizer([f"a photo of a {n}." for n in CLASSNAMES], padding=True, return_tensors="pt")
        pooled = clip.model.text_model(**reference_tokens).pooler_output
        reference = torch.nn.functional.normalize(clip.model.text_projection(pooled), dim=-1)
    assert prompted.shape == reference.shape
    assert (prompted - reference).abs().max().item() <= 1e-5


def test_chunked_text_encoding_equals_one_batch(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    whole = CoOpPromptLearner(clip, CLASSNAMES)
    chunked = CoOpPromptLearner(clip, CLASSNAMES, text_batch_size=4)
    with torch.no_grad():
        assert torch.allclose(whole.encode_text(clip, CLASSNAMES), chunked.encode_text(clip, CLASSNAMES), atol=1e-6)


def test_class_specific_context_has_one_context_per_class(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    learner = CoOpPromptLearner(clip, CLASSNAMES, n_ctx_text=2, ctx_init=None, class_specific=True)
    assert learner.ctx.shape == (len(CLASSNAMES), 2, clip.token_embedding.weight.shape[1])
    # Changing class 0's context changes class 0's feature only. (A random direction: a
    # constant shift of every component would be erased by the layer norms.)
    perturbation = torch.randn(learner.ctx[0].shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        baseline = learner.encode_text(clip, CLASSNAMES)
        learner.ctx[0].add_(perturbation)
        features = learner.encode_text(clip, CLASSNAMES)
    assert not torch.allclose(features[0], baseline[0])
    assert torch.allclose(features[1:], baseline[1:], atol=1e-6)
    with pytest.raises(ValueError, match="cannot encode"):
        learner.encode_text(clip, CLASSNAMES[:2])


def test_ctx_init_token_count_must_match_n_ctx(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    with pytest.raises(ValueError, match="Set n_ctx_text=4"):
        CoOpPromptLearner(clip, CLASSNAMES, n_ctx_text=3, ctx_init="a photo of a")


def test_missing_clip_directory_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        FrozenClip.from_pretrained(str(tmp_path / "nowhere"))


def _context_gradients(clip: FrozenClip, *learners: CoOpPromptLearner) -> list[torch.Tensor]:
    """Each learner's context gradient of the same random linear loss of its class features."""
    target = torch.randn(len(CLASSNAMES), clip.config.projection_dim, generator=torch.Generator().manual_seed(3))
    grads = []
    for learner in learners:
        (learner.encode_text(clip, CLASSNAMES) * target).sum().backward()
        grads.append(learner.ctx.grad.clone())
    return grads


@pytest.mark.parametrize("class_specific", [False, True])
def test_chunked_checkpointed_gradients_equal_the_naive_computation(tiny_clip_dir, class_specific):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    # HF's forward for every class (shared_prefix=False): each class's gradient is its own computation,
    # so chunks and recomputation change nothing but where the sum over classes happens.
    naive = CoOpPromptLearner(clip, CLASSNAMES, class_specific=class_specific, shared_prefix=False)
    bounded = CoOpPromptLearner(
        clip, CLASSNAMES, class_specific=class_specific, text_batch_size=4, checkpoint_text=True, shared_prefix=False
    )
    grads = _context_gradients(clip, naive, bounded)
    assert grads[0].abs().sum() > 0
    assert (grads[0] - grads[1]).abs().max().item() <= 1e-6


def test_chunked_checkpointed_shared_prefix_gradients_equal_the_naive_computation(tiny_clip_dir):
    clip = FrozenClip.from_pretrained(str(tiny_clip_dir))
    naive = CoOpPromptLearner(clip, CLASSNAMES)
    bounded = CoOpPromptLearner(clip, CLASSNAMES, text_batch_size=4, checkpoint_text=True)
    grads = _context_gradients(clip, naive, bounded)
    assert grads[0].abs().sum() > 0
    # With the prefix encoded once per chunk, its gradient is summed over the chunk's classes inside
    # the backward pass, 4 + 2 classes instead of 6: float32 sums in another order.
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-5)
