"""Temporary hooks that put prompt tokens into every layer of a frozen HF CLIP tower, without forking its modules."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

TokenTransform = Callable[[torch.Tensor], torch.Tensor]


def _broadcast(prompts: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
    return prompts.to(hidden_states.dtype).unsqueeze(0).expand(hidden_states.shape[0], -1, -1)


def replace_tokens(hidden_states: torch.Tensor, prompts: torch.Tensor, start: int) -> torch.Tensor:
    """`hidden_states` `[B, L, D]` with positions `start .. start+n-1` replaced by `prompts` `[n, D]`.

    A negative `start` counts from the end, as in indexing (`-n` replaces the last n tokens).
    """
    start = start % hidden_states.shape[1]
    stop = start + prompts.shape[0]
    if stop > hidden_states.shape[1]:
        raise ValueError(f"Cannot replace tokens {start}..{stop - 1} of a sequence of {hidden_states.shape[1]} tokens.")
    return torch.cat([hidden_states[:, :start], _broadcast(prompts, hidden_states), hidden_states[:, stop:]], dim=1)


def append_tokens(hidden_states: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """`hidden_states` `[B, L, D]` followed by `prompts` `[n, D]`: `[B, L + n, D]`."""
    return torch.cat([hidden_states, _broadcast(prompts, hidden_states)], dim=1)


def _transform_output(transform: TokenTransform, _module: nn.Module, _inputs: Any, output: torch.Tensor):
    return transform(output)


def _transform_layer_input(
    transform: TokenTransform, module: nn.Module, args: tuple, kwargs: dict
) -> tuple[tuple, dict]:
    # transformers 4.5x and 5.x both pass `hidden_states` positionally to CLIPEncoderLayer today;
    # accept the keyword form too so a refactor upstream fails loudly here rather than silently.
    if args:
        return (transform(args[0]), *args[1:]), kwargs
    if "hidden_states" in kwargs:
        return args, {**kwargs, "hidden_states": transform(kwargs["hidden_states"])}
    raise RuntimeError(
        f"{type(module).__name__} was called without `hidden_states` (keyword arguments: {sorted(kwargs)}); "
        "this transformers version calls encoder layers in a way the deep-prompt hooks do not know."
    )


@contextmanager
def deep_prompt_hooks(
    entry: nn.Module, layers: Sequence[nn.Module], transforms: Sequence[TokenTransform]
) -> Iterator[None]:
    """While active, `transforms[0]` rewrites `entry`'s output and `transforms[i]` the input of `layers[i]`, i >= 1.

    `entry` is the module whose output becomes the first layer's input (the
    token-embedding table, or the vision embeddings), so layer-0 prompts pass
    through whatever the model does before its first layer (position
    embeddings, pre-layer-norm). Deeper prompts overwrite the hidden states
    entering their layer. The hooks are removed on exit, also on errors, so the
    same CLIP still gives plain zero-shot features outside the block.
    """
    if len(transforms) > len(layers):
        raise ValueError(f"{len(transforms)} prompt layers given for a tower of {len(layers)} layers.")
    handles = []
    try:
        if transforms:
            handles.append(entry.register_forward_hook(functools.partial(_transform_output, transforms[0])))
        for index in range(1, len(transforms)):
            hook = functools.partial(_transform_layer_input, transforms[index])
            handles.append(layers[index].register_forward_pre_hook(hook, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
