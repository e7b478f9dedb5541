"""IVLP: independent deep prompts in both CLIP towers (the MaPLe / PromptSRC baseline), as a host for any loss."""

from __future__ import annotations

import functools
from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cpt_lightning.models.class_prompt_tokens import ClassPromptTokens, placeholder_token_id
from cpt_lightning.models.deep_prompt_hooks import append_tokens, deep_prompt_hooks, replace_tokens
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.models.prompt_learner import PromptLearner


def _check_depth(argument: str, depth: int, num_layers: int, tower: str) -> None:
    if not 0 <= depth <= num_layers:
        raise ValueError(
            f"{argument}={depth}, but this CLIP's {tower} tower has {num_layers} layers. Choose a depth from 0 "
            f"(no {tower} prompts) to {num_layers} (prompts in every layer); 9 is the usual choice for "
            "ViT-B/16's 12 layers."
        )


class IVLPPromptLearner(PromptLearner):
    """Independent vision-language prompts: learnable tokens in the first layers of both towers.

    Text: `n_ctx_text` tokens follow the start token, "[SOT] p_1 .. p_n
    {classname}. [EOT]". Layer 0's tokens replace placeholder-token
    embeddings (so they get position embeddings, like CoOp's context); each
    layer `i` in `1 .. prompt_depth_text - 1` overwrites those positions of
    the hidden states entering it with its own tokens. The causal mask lets
    the end token CLIP pools at see them all. Vision: `n_ctx_vision` tokens
    are appended after the patch + position embeddings (before the
    pre-layer-norm, sequence length 1 + P + n) and likewise replaced entering
    each layer up to `prompt_depth_vision - 1`; the vision tower attends
    without a mask and pools the class token at index 0, so both are
    unaffected. A depth of `d` thus means prompts in layers 0 .. d-1; depth 0
    leaves that tower plain CLIP. Everything happens in hooks registered only
    while this learner encodes, so the frozen CLIP still gives zero-shot
    features elsewhere.

    Args:
        clip: the frozen CLIP; its layer counts bound the depths.
        classnames: training class names (unused: the prompts are shared by all classes).
        n_ctx_text: text prompt tokens per layer.
        n_ctx_vision: vision prompt tokens per layer.
        prompt_depth_text: text layers with prompts (0: the text tower
            encodes the fixed "[SOT] {ctx_init} {name}. [EOT]", no text prompts).
        prompt_depth_vision: vision layers with prompts (0: the frozen image tower).
        ctx_init: phrase whose token embeddings initialise the layer-0 text
            prompts (its token count must equal `n_ctx_text`), or None for
            random ones. Deeper text prompts and all vision prompts are
            N(0, 0.02^2), as in MaPLe / PromptSRC.
        seed: seed of the random initialisation (a local generator, independent of the global RNG).
        text_batch_size: classes encoded per text-tower call (None: all at once).
        checkpoint_text: recompute each text chunk's activations in the
            backward pass instead of storing them (identical gradients, two
            forward passes); with `text_batch_size`, training memory for the
            text side is one chunk's activations, as in the CoOp host.
    """

    def __init__(
        self,
        clip: FrozenClip,
        classnames: list[str],
        n_ctx_text: int = 4,
        n_ctx_vision: int = 4,
        prompt_depth_text: int = 9,
        prompt_depth_vision: int = 9,
        ctx_init: str | None = "a photo of a",
        seed: int = 0,
        text_batch_size: int | None = None,
        checkpoint_text: bool = False,
    ) -> None:
        super().__init__()
        for argument, value in (("n_ctx_text", n_ctx_text), ("n_ctx_vision", n_ctx_vision)):
            if value < 1:
                tower = argument.removeprefix("n_ctx_")
                raise ValueError(
                    f"{argument} must be >= 1, got {value}; for no {tower} prompts set prompt_depth_{tower}=0."
                )
        if text_batch_size is not None and text_batch_size < 1:
            raise ValueError(f"text_batch_size must be >= 1 or None, got {text_batch_size}.")
        _check_depth("prompt_depth_text", prompt_depth_text, len(self._text_layers(clip)), "text")
        _check_depth("prompt_depth_vision", prompt_depth_vision, len(self._vision_layers(clip)), "vision")
        self.n_ctx_text = n_ctx_text
        self.n_ctx_vision = n_ctx_vision
        self.prompt_depth_text = prompt_depth_text
        self.prompt_depth_vision = prompt_depth_vision
        self.text_batch_size = text_batch_size
        self.checkpoint_text = checkpoint_text
        generator = torch.Generator().manual_seed(seed)
        init_ids = clip.tokenizer(ctx_init, add_special_tokens=False)["input_ids"] if ctx_init else []

        if prompt_depth_text == 0:
            self.register_parameter("text_prompts", None)
            self._tokens = ClassPromptTokens(init_ids)
        else:
            if ctx_init and len(init_ids) != n_ctx_text:
                raise ValueError(
                    f"ctx_init={ctx_init!r} is {len(init_ids)} tokens but n_ctx_text={n_ctx_text}. "
                    f"Set n_ctx_text={len(init_ids)} or choose a phrase of {n_ctx_text} tokens."
                )
            width = clip.config.text_config.hidden_size
            text_prompts = torch.randn(prompt_depth_text, n_ctx_text, width, generator=generator) * 0.02
            if ctx_init:
                text_prompts[0] = clip.token_embedding.weight[torch.tensor(init_ids)].detach().float()
            self.text_prompts = nn.Parameter(text_prompts)
            self._tokens = ClassPromptTokens([placeholder_token_id(clip)] * n_ctx_text)

        if prompt_depth_vision == 0:
            self.register_parameter("vision_prompts", None)
        else:
            width = clip.config.vision_config.hidden_size
            vision_prompts = torch.randn(prompt_depth_vision, n_ctx_vision, width, generator=generator) * 0.02
            self.vision_prompts = nn.Parameter(vision_prompts)

    @staticmethod
    def _text_layers(clip: FrozenClip) -> nn.ModuleList:
        return clip.model.text_model.encoder.layers

    @staticmethod
    def _vision_layers(clip: FrozenClip) -> nn.ModuleList:
        return clip.model.vision_model.encoder.layers

    @property
    def prompts_images(self) -> bool:
        return self.vision_prompts is not None

    def _text_hooks(self, clip: FrozenClip):
        if self.text_prompts is None:
            return nullcontext()
        # Position 0 is the start token; the prompts sit at 1 .. n_ctx_text in every layer.
        transforms = [functools.partial(replace_tokens, prompts=layer, start=1) for layer in self.text_prompts]
        return deep_prompt_hooks(clip.token_embedding, self._text_layers(clip), transforms)

    def _vision_hooks(self, clip: FrozenClip):
        prompts = self.vision_prompts
        transforms = [functools.partial(append_tokens, prompts=prompts[0])]
        transforms += [
            functools.partial(replace_tokens, prompts=layer, start=-self.n_ctx_vision) for layer in prompts[1:]
        ]
        return deep_prompt_hooks(clip.model.vision_model.embeddings, self._vision_layers(clip), transforms)

    def encode_text(self, clip: FrozenClip, classnames: list[str]) -> torch.Tensor:
        input_ids, attention_mask = self._tokens(clip, classnames)
        device = clip.token_embedding.weight.device
        chunk = self.text_batch_size or len(classnames)
        recompute = self.checkpoint_text and torch.is_grad_enabled() and self.text_prompts is not None
        features = []
        for start in range(0, len(classnames), chunk):
            stop = start + chunk
            ids, mask = input_ids[start:stop].to(device), attention_mask[start:stop].to(device)
            if recompute:
                features.append(checkpoint(self._encode_text_chunk, clip, ids, mask, use_reentrant=False))
            else:
                features.append(self._encode_text_chunk(clip, ids, mask))
        return torch.cat(features)

    def _encode_text_chunk(self, clip: FrozenClip, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        # The hooks live inside the recomputed region, so a checkpointed backward re-applies them.
        with self._text_hooks(clip):
            return clip.encode_token_ids(input_ids, attention_mask)

    def encode_images(self, clip: FrozenClip, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.vision_prompts is None:
            return clip.encode_images(pixel_values)
        with self._vision_hooks(clip):
            return clip.encode_images(pixel_values)
