"""Token ids of "[SOT] {prefix} {classname}. [EOT]" per class: the text side every host tokenises."""

from __future__ import annotations

from collections import OrderedDict

import torch

from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.process_cache import cached


def placeholder_token_id(clip: FrozenClip) -> int:
    """The id of CoOp's "X", the token whose embedding a host replaces; never the end token CLIP pools at."""
    ids = clip.tokenizer("X", add_special_tokens=False)["input_ids"]
    candidate = ids[0] if ids else (clip.tokenizer.unk_token_id or 0)
    eos = clip.model.config.text_config.eos_token_id
    return candidate if candidate != eos else 0


class ClassPromptTokens:
    """Tokenises class names behind a fixed prefix, padded to the longest, and caches the last few class lists.

    The prefix is either placeholder ids whose embeddings a host overwrites
    (so they sit at positions 1..n right after the start token) or the ids of
    a real phrase. The end token stays a real id, so CLIP pools where it
    always does.

    Args:
        prefix_ids: token ids placed between the start token and the class name.
    """

    def __init__(self, prefix_ids: list[int]) -> None:
        self.prefix_ids = list(prefix_ids)
        self._cache: OrderedDict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    def __call__(self, clip: FrozenClip, classnames: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask `[len(classnames), L]` of "[SOT] prefix {name}. [EOT]"."""
        key = tuple(classnames)
        if key not in self._cache:
            shared = None if clip.cache_key is None else (clip.cache_key, tuple(self.prefix_ids), key)
            self._cache[key] = cached("class_prompt_tokens", shared, lambda: self._tokenize(clip, classnames))
            if len(self._cache) > 8:  # eval sets rotate; keep a handful
                self._cache.popitem(last=False)
        return self._cache[key]

    def _tokenize(self, clip: FrozenClip, classnames: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokenizer = clip.tokenizer
        start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end
        max_len = clip.config.text_config.max_position_embeddings
        rows = []
        for name in classnames:
            name_ids = tokenizer(f"{name}.", add_special_tokens=False)["input_ids"]
            row = [start] + self.prefix_ids + name_ids
            rows.append(row[: max_len - 1] + [end])
        length = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row)
            attention_mask[i, : len(row)] = 1
        return input_ids, attention_mask
