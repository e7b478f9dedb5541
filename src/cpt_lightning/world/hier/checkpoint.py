"""Where the pretrained hierarchical-world CLIP ships inside the package."""

from __future__ import annotations

from pathlib import Path

from cpt_lightning.world.checkpoint import packaged_clip_path


def world2_clip_path() -> Path:
    """Directory of the shipped hierarchical-world CLIP (model, tokenizer, preprocessor config).

    Raises `FileNotFoundError` naming the directory and the command that creates it when it is missing.
    """
    return packaged_clip_path(
        "world2_clip",
        "hierarchical-world CLIP",
        "pretrain_world2_clip",
        "(about an hour on a loaded 2-core CPU)",
        extra_flags=" --seed 0",
    )
