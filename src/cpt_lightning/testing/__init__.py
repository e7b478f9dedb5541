"""Tiny random CLIPs and a quiet CPU trainer, for tests, demos and benchmarks that cannot download real weights.

`testing.clip_tokenizer` builds OpenAI CLIP's BPE tokenizer offline from its vocabulary file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerBase

from cpt_lightning.image_settings import ImageSettings


def tiny_clip_config(
    tokenizer: PreTrainedTokenizerBase,
    hidden_size: int = 32,
    num_layers: int = 2,
    image_size: int = 32,
    patch_size: int = 8,
    projection_dim: int = 16,
    max_position_embeddings: int = 77,
) -> CLIPConfig:
    """A `CLIPConfig` of the given width and depth whose special-token ids match `tokenizer`."""
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 4,
        "num_hidden_layers": num_layers,
        "num_attention_heads": max(1, hidden_size // 16),
        "max_position_embeddings": max_position_embeddings,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 4,
        "num_hidden_layers": num_layers,
        "num_attention_heads": max(1, hidden_size // 16),
        "image_size": image_size,
        "patch_size": patch_size,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


def vit_b16_config(tokenizer: PreTrainedTokenizerBase) -> CLIPConfig:
    """`openai/clip-vit-base-patch16`'s architecture (for random-weight tests and benchmarks at real size)."""
    return CLIPConfig(
        text_config=dict(
            hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
            vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            image_size=224, patch_size=16,
        ),
        projection_dim=512,
    )  # fmt: skip


def save_random_clip(
    out_dir: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    config: CLIPConfig | None = None,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised CLIP, its tokenizer and image settings as a `save_pretrained` directory."""
    out_dir = Path(out_dir)
    config = config or tiny_clip_config(tokenizer)
    torch.manual_seed(seed)
    model = CLIPModel(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    size = config.vision_config.image_size
    ImageSettings(crop_size=size, resize_shortest_edge=size).save(out_dir)
    return out_dir


def quiet_trainer(root_dir: str | Path, **overrides: Any) -> Trainer:
    """A one-CPU `Trainer` that writes nothing but what a test asks for: no logger, progress bar, model
    summary, checkpoint callback or sanity validation, every file under `root_dir`; `overrides` replace
    any argument."""
    arguments = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        default_root_dir=root_dir,
    )
    return Trainer(**{**arguments, **overrides})
