"""CoOp: learnable context vectors in front of the class name, in the text tower only."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cpt_lightning.models.class_prompt_tokens import ClassPromptTokens, placeholder_token_id
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.models.prompt_learner import PromptLearner
from cpt_lightning.models.shared_prefix_text import encode_with_shared_prefix


class CoOpPromptLearner(PromptLearner):
    """`n_ctx_text` context vectors spliced in as "[SOT] v_1 .. v_n {classname}. [EOT]".

    The vectors replace the token embeddings of placeholder tokens right
    after the start token, through a forward hook on CLIP's token-embedding
    table: HF's CLIP text model takes no `inputs_embeds`, and the hook keeps
    its forward (causal mask, EOS pooling, attention kernels) untouched in
    every transformers version. The placeholders are real token ids, so the
    model still pools at the real end token.

    Args:
        clip: the frozen CLIP whose token embeddings initialise the context.
        classnames: training class names (needed only when `class_specific`).
        n_ctx_text: number of context vectors; with `ctx_init`, it must equal the
            phrase's token count (CoOp's convention).
        ctx_init: phrase whose token embeddings initialise the context, or
            None for N(0, 0.02^2) random vectors (CoOp's random init).
        class_specific: one context per class (CoOp's CSC) instead of a
            shared one; such a prompt cannot transfer to other classes.
        text_batch_size: classes encoded per text-tower call (None: all at once).
        checkpoint_text: recompute each chunk's activations in the backward
            pass instead of storing them, so training memory is one chunk's
            activations rather than all classes' (gradients are the same up to
            float rounding; the text tower runs forward twice). With `text_batch_size`, this bounds
            the memory of 1,000-class prompts.
        shared_prefix: with a shared context, encode "[SOT] v_1 .. v_n", which
            starts every class's prompt, once per call and only the class tokens
            per class (`models/shared_prefix_text.py`: exact, as the text tower
            is causal). False: HF's own forward of every full prompt, through the
            splice hook. A class-specific context always takes HF's forward.
    """

    def __init__(
        self,
        clip: FrozenClip,
        classnames: list[str],
        n_ctx_text: int = 4,
        ctx_init: str | None = "a photo of a",
        class_specific: bool = False,
        text_batch_size: int | None = None,
        checkpoint_text: bool = False,
        shared_prefix: bool = True,
    ) -> None:
        super().__init__()
        if n_ctx_text < 1:
            raise ValueError(f"n_ctx_text must be >= 1, got {n_ctx_text}.")
        embedding = clip.token_embedding.weight
        if ctx_init:
            init_ids = clip.tokenizer(ctx_init, add_special_tokens=False)["input_ids"]
            if len(init_ids) != n_ctx_text:
                raise ValueError(
                    f"ctx_init={ctx_init!r} is {len(init_ids)} tokens but n_ctx_text={n_ctx_text}. "
                    f"Set n_ctx_text={len(init_ids)} or choose a phrase of {n_ctx_text} tokens."
                )
            ctx = embedding[torch.tensor(init_ids)].detach().clone().float()
        else:
            generator = torch.Generator().manual_seed(0)
            ctx = torch.randn(n_ctx_text, embedding.shape[1], generator=generator) * 0.02
        if class_specific:
            ctx = ctx.unsqueeze(0).repeat(len(classnames), 1, 1)
        self.ctx = nn.Parameter(ctx)
        self.n_ctx_text = n_ctx_text
        self.class_specific = class_specific
        self.num_train_classes = len(classnames)
        if text_batch_size is not None and text_batch_size < 1:
            raise ValueError(f"text_batch_size must be >= 1 or None, got {text_batch_size}.")
        self.text_batch_size = text_batch_size
        self.checkpoint_text = checkpoint_text
        self.shared_prefix = shared_prefix
        self._tokens = ClassPromptTokens([placeholder_token_id(clip)] * n_ctx_text)

    def tokenize_classnames(self, clip: FrozenClip, classnames: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask of "[SOT] X*n_ctx_text {name}. [EOT]" for each class (cached)."""
        return self._tokens(clip, classnames)

    @contextmanager
    def _spliced(self, clip: FrozenClip, ctx: torch.Tensor):
        """While active, token embeddings at positions 1..n_ctx_text are replaced by `ctx` ([n, D] or [B, n, D])."""

        def splice(_module, _inputs, output: torch.Tensor) -> torch.Tensor:
            context = ctx.to(output.dtype)
            if context.dim() == 2:
                context = context.unsqueeze(0).expand(output.shape[0], -1, -1)
            return torch.cat([output[:, :1], context, output[:, 1 + self.n_ctx_text :]], dim=1)

        handle = clip.token_embedding.register_forward_hook(splice)
        try:
            yield
        finally:
            handle.remove()

    def encode_text(self, clip: FrozenClip, classnames: list[str]) -> torch.Tensor:
        if self.class_specific and len(classnames) != self.num_train_classes:
            raise ValueError(
                f"Class-specific context was trained for {self.num_train_classes} classes and cannot encode "
                f"{len(classnames)} others. Use a shared context (class_specific=False) for transfer."
            )
        input_ids, attention_mask = self.tokenize_classnames(clip, classnames)
        device = self.ctx.device
        chunk = self.text_batch_size or len(classnames)
        recompute = self.checkpoint_text and torch.is_grad_enabled() and self.ctx.requires_grad
        features = []
        for start in range(0, len(classnames), chunk):
            stop = start + chunk
            ctx = self.ctx[start:stop] if self.class_specific else self.ctx
            ids, mask = input_ids[start:stop].to(device), attention_mask[start:stop].to(device)
            if recompute:
                features.append(checkpoint(self._encode_chunk, clip, ctx, ids, mask, use_reentrant=False))
            else:
                features.append(self._encode_chunk(clip, ctx, ids, mask))
        return torch.cat(features)

    def _encode_chunk(
        self, clip: FrozenClip, ctx: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        if self.shared_prefix and ctx.dim() == 2:  # one context for all: "[SOT] v_1 .. v_n" is every row's start
            start = clip.token_embedding(input_ids[:1, :1])
            prefix = torch.cat([start, ctx.to(start.dtype).unsqueeze(0)], dim=1)
            return encode_with_shared_prefix(clip, prefix, input_ids, 1 + self.n_ctx_text)
        # The splice hook lives inside the recomputed region, so a checkpointed
        # backward re-applies it exactly as the forward did.
        with self._spliced(clip, ctx):
            return clip.encode_token_ids(input_ids, attention_mask)
