"""A frozen HuggingFace CLIP: weights, tokenizer and image settings, loaded from a hub id or a directory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer, CLIPConfig, CLIPModel, PreTrainedTokenizerBase

from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.process_cache import cached, files_stamp
from cpt_lightning.progress import progress
from cpt_lightning.world.checkpoint import world_clip_path
from cpt_lightning.world.hier.checkpoint import world2_clip_path


def _read_image_settings(name_or_path: str) -> ImageSettings:
    """Read `preprocessor_config.json` without instantiating an image processor.

    transformers 5.x's `CLIPImageProcessor` needs torchvision; the data side
    only needs the numbers, so reading the JSON keeps torchvision optional.
    """
    local = Path(name_or_path)
    if local.is_dir():
        config_file = local / "preprocessor_config.json"
        if not config_file.is_file():
            return ImageSettings()
    else:
        from transformers.utils import cached_file

        resolved = cached_file(name_or_path, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
        if resolved is None:
            return ImageSettings()
        config_file = Path(resolved)
    return ImageSettings.from_preprocessor_dict(json.loads(config_file.read_text()))


BUILTIN_PREFIX = "builtin:"


def resolve_clip_name(name_or_path: str) -> str:
    """Map `builtin:world_clip` / `builtin:world2_clip` to the shipped directory (wherever the package is)."""
    if not name_or_path.startswith(BUILTIN_PREFIX):
        return name_or_path
    builtins = {"world_clip": world_clip_path, "world2_clip": world2_clip_path}
    name = name_or_path[len(BUILTIN_PREFIX) :]
    if name not in builtins:
        raise ValueError(
            f"Unknown built-in CLIP {name_or_path!r}; available: {sorted(BUILTIN_PREFIX + b for b in builtins)}."
        )
    return str(builtins[name]())


def _eos_mismatch_advice(tokenizer: PreTrainedTokenizerBase, eos_id: int, configured: int) -> str:
    """Which side to fix: where the model's end-token id is a special token of the tokenizer under another
    name, the tokenizer's `eos_token` setting is the wrong one; otherwise the model config's id is."""
    found = (
        f"text_config.eos_token_id={configured} but the tokenizer's end token {tokenizer.eos_token!r} has id {eos_id}"
    )
    special = set(tokenizer.all_special_tokens) | {str(t) for t in tokenizer.added_tokens_decoder.values()}
    token_at_configured = tokenizer.convert_ids_to_tokens(configured) if 0 <= configured < len(tokenizer) else None
    if token_at_configured in special and token_at_configured != tokenizer.eos_token:
        return (
            f"{found}. The model pools at {token_at_configured!r} (id {configured}), which this tokenizer also "
            f'knows: its `eos_token` setting is wrong. Set "eos_token": {json.dumps(token_at_configured)} in '
            "tokenizer_config.json (and special_tokens_map.json) beside the checkpoint, not the model's config.json."
        )
    return f"{found}. Set `text_config.eos_token_id={eos_id}` in the checkpoint's config.json."


def _load_clip_model(name_or_path: str, torch_dtype: torch.dtype | None) -> CLIPModel:
    """`CLIPModel.from_pretrained`; a name that is no local directory and fails on the hub may be a mistyped path."""
    try:
        return CLIPModel.from_pretrained(name_or_path, torch_dtype=torch_dtype)
    except OSError as error:
        if Path(name_or_path).expanduser().exists():
            raise
        raise FileNotFoundError(
            f"CLIP {name_or_path!r} is not a directory ({Path(name_or_path).expanduser().resolve()} does not exist; "
            f"relative paths start from {Path.cwd()}) and could not be loaded as a Hugging Face Hub id "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Point "
            "`model.clip_name_or_path` at a `save_pretrained` directory, or at a hub id such as "
            "'openai/clip-vit-base-patch16' on a machine that can reach the hub (or has it in its cache)."
        ) from error


class FrozenClip(nn.Module):
    """CLIP with every weight frozen and kept in eval mode.

    Exposes the two towers as feature encoders (projected, L2-normalised) and
    the text tower's token-embedding table, which prompt learners splice into.
    Features are computed through `text_model` / `vision_model` and the
    projections directly, because `get_text_features` returns a tensor in
    transformers 4.x and a model output in 5.x.
    """

    def __init__(
        self,
        model: CLIPModel,
        tokenizer: PreTrainedTokenizerBase,
        image_settings: ImageSettings,
        cache_key: tuple | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.image_settings = image_settings
        # What identifies these weights for `process_cache` (path, file stamps, dtype); None: never shared.
        self.cache_key = cache_key
        self.model.requires_grad_(False)
        self.model.eval()
        eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token) if tokenizer.eos_token else None
        configured = model.config.text_config.eos_token_id
        if eos_id is not None and configured not in (2, eos_id):
            # CLIP pools at the first `eos_token_id`; a mismatch pools at the wrong token silently.
            raise ValueError(_eos_mismatch_advice(tokenizer, eos_id, configured))

    @classmethod
    def from_pretrained(cls, name_or_path: str, torch_dtype: torch.dtype | None = None) -> FrozenClip:
        """Load from a hub id (e.g. `openai/clip-vit-base-patch16`), a `save_pretrained` directory, or
        `builtin:world_clip` (the demo world's CLIP shipped inside the package)."""
        name_or_path = resolve_clip_name(name_or_path)
        local = Path(name_or_path)
        looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
        if looks_local and not (local / "config.json").is_file():
            raise FileNotFoundError(
                f"CLIP directory {local.resolve()} has no config.json. Point `clip_name_or_path` at a "
                "directory written by `CLIPModel.save_pretrained` (with the tokenizer files beside it), "
                "or at a hub id such as 'openai/clip-vit-base-patch16'."
            )
        key = (name_or_path, files_stamp(local) if local.is_dir() else None, str(torch_dtype))

        def load() -> tuple[CLIPModel, PreTrainedTokenizerBase, ImageSettings, torch.dtype]:
            model = _load_clip_model(name_or_path, torch_dtype)
            return model, AutoTokenizer.from_pretrained(name_or_path), _read_image_settings(name_or_path), model.dtype

        def unchanged(value) -> bool:  # a run under `precision="bf16-true"` casts the shared weights in place
            model, _, _, dtype = value
            return all(p.dtype == dtype and not p.requires_grad for p in model.parameters())

        model, tokenizer, settings, _ = cached("clip", key, load, valid=unchanged)
        return cls(model, tokenizer, settings, cache_key=key)

    @property
    def config(self) -> CLIPConfig:
        return self.model.config

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.model.text_model.embeddings.token_embedding

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()

    def train(self, mode: bool = True) -> FrozenClip:
        # Lightning calls .train() on the whole module every epoch; the frozen
        # backbone must stay deterministic (dropout off) regardless.
        super().train(False)
        return self

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected, L2-normalised image features `[B, D]`."""
        pixel_values = pixel_values.to(self.model.visual_projection.weight.dtype)
        pooled = self.model.vision_model(pixel_values=pixel_values).pooler_output
        return F.normalize(self.model.visual_projection(pooled), dim=-1)

    def encode_token_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Projected, L2-normalised text features `[N, D]` of tokenised prompts."""
        pooled = self.model.text_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return F.normalize(self.model.text_projection(pooled), dim=-1)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise full prompts with start/end tokens, padded to the longest."""
        return self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")

    @torch.no_grad()
    def zero_shot_text_features(
        self, classnames: Sequence[str], templates: Sequence[str], batch_size: int = 256
    ) -> torch.Tensor:
        """Per class, the re-normalised mean over `templates` ("{}" is the class name) of the text features.

        Encoded `batch_size` prompts at a time so that 1,000 classes x many templates fit in memory.
        """
        device = self.token_embedding.weight.device
        summed = None
        for template in progress(templates, desc="Zero-shot text features (templates)"):
            prompts = [template.format(name) for name in classnames]
            chunks = []
            for start in range(0, len(prompts), batch_size):
                tokens = self.tokenize(prompts[start : start + batch_size]).to(device)
                chunks.append(self.encode_token_ids(tokens["input_ids"], tokens["attention_mask"]).float())
            features = torch.cat(chunks)
            summed = features if summed is None else summed + features
        return F.normalize(summed, dim=-1)
