"""Text features of prompts that all start with the same tokens, with those tokens encoded once.

CLIP's text tower is causal: a token's hidden states at every layer depend only on the tokens
before it. CoOp's prompts "[SOT] v_1 .. v_M {class name}. [EOT]" with one shared context begin
with the same M + 1 embeddings for every class, so those positions have the same hidden states
in every row. Encoding them once and letting each class's remaining tokens attend to their keys
and values computes the same features as the full forward (up to float rounding), without K - 1
copies of the prefix: most of the text tower's work when class names are a few tokens long.

Padding needs no mask here: padded positions come after a row's end token, and the causal mask
already keeps every position up to the end token from seeing them; only the pooled end token
is read out. The functions use the HF CLIP text model's own submodules (embeddings, layer norms,
projections, MLPs), which are the same in transformers 4.5x and 5.x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.models.frozen_clip import FrozenClip


def end_token_positions(clip: FrozenClip, input_ids: torch.Tensor) -> torch.Tensor:
    """Where HF's CLIP text model pools each row: its rule for the end token, including the legacy one."""
    eos = clip.model.text_model.eos_token_id
    if eos == 2:  # configs from before transformers PR 24773 pool at the highest token id
        return input_ids.to(torch.int).argmax(dim=-1)
    return (input_ids.to(torch.int) == eos).int().argmax(dim=-1)


def encode_with_shared_prefix(
    clip: FrozenClip, prefix_embeds: torch.Tensor, input_ids: torch.Tensor, prefix_length: int
) -> torch.Tensor:
    """Projected, L2-normalised text features `[N, D]` of `N` prompts that share their first tokens.

    `prefix_embeds`: `[1, P, W]` token embeddings of the shared first `P = prefix_length` positions
    (before position embeddings); `input_ids`: `[N, L]` the full prompts, whose positions from `P` on
    are embedded here. Every row's end token must come after the prefix.
    """
    text = clip.model.text_model
    pooled_at = end_token_positions(clip, input_ids) - prefix_length
    if bool((pooled_at < 0).any()):
        raise ValueError("encode_with_shared_prefix: a prompt ends inside the shared prefix; encode it in full.")
    embeddings = text.embeddings
    positions = embeddings.position_ids[:, : input_ids.shape[1]].to(input_ids.device)
    prefix = prefix_embeds + embeddings.position_embedding(positions[:, :prefix_length])
    suffix = embeddings.token_embedding(input_ids[:, prefix_length:])
    suffix = suffix + embeddings.position_embedding(positions[:, prefix_length:])
    length = suffix.shape[1]
    ones = torch.ones(length, prefix_length + length, dtype=torch.bool, device=suffix.device)
    suffix_mask = ones.tril(diagonal=prefix_length)  # every prefix key, then causal among the row's own tokens
    layers = text.encoder.layers
    for depth, layer in enumerate(layers):
        attention = layer.self_attn
        normed_prefix, normed_suffix = layer.layer_norm1(prefix), layer.layer_norm1(suffix)
        heads = attention.num_heads
        prefix_keys = _heads(attention.k_proj(normed_prefix), heads)
        prefix_values = _heads(attention.v_proj(normed_prefix), heads)
        rows = suffix.shape[0]
        keys = torch.cat([prefix_keys.expand(rows, -1, -1, -1), _heads(attention.k_proj(normed_suffix), heads)], 2)
        values = torch.cat([prefix_values.expand(rows, -1, -1, -1), _heads(attention.v_proj(normed_suffix), heads)], 2)
        queries = _heads(attention.q_proj(normed_suffix), heads)
        attended = F.scaled_dot_product_attention(queries, keys, values, attn_mask=suffix_mask, scale=attention.scale)
        suffix = suffix + attention.out_proj(_merge_heads(attended))
        suffix = suffix + layer.mlp(layer.layer_norm2(suffix))
        if depth + 1 < len(layers):  # the last layer's prefix outputs are never read
            queries = _heads(attention.q_proj(normed_prefix), heads)
            attended = F.scaled_dot_product_attention(
                queries, prefix_keys, prefix_values, is_causal=True, scale=attention.scale
            )
            prefix = prefix + attention.out_proj(_merge_heads(attended))
            prefix = prefix + layer.mlp(layer.layer_norm2(prefix))
    final = text.final_layer_norm(suffix)
    pooled = final[torch.arange(final.shape[0], device=final.device), pooled_at.to(final.device)]
    return F.normalize(clip.model.text_projection(pooled), dim=-1)


def _heads(states: torch.Tensor, num_heads: int) -> torch.Tensor:
    """`[B, T, W]` -> `[B, heads, T, W / heads]`."""
    batch, tokens, width = states.shape
    return states.view(batch, tokens, num_heads, width // num_heads).transpose(1, 2)


def _merge_heads(states: torch.Tensor) -> torch.Tensor:
    """`[B, heads, T, d]` -> `[B, T, heads * d]`."""
    batch, heads, tokens, dim = states.shape
    return states.transpose(1, 2).reshape(batch, tokens, heads * dim)
