"""Where the pretrained demo-world CLIP ships inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def world_clip_path() -> Path:
    """Directory of the shipped world CLIP (model, tokenizer, preprocessor config), for `from_pretrained`.

    Raises `FileNotFoundError` naming the directory and the command that creates it when it is missing.
    """
    return packaged_clip_path("world_clip", "world CLIP", "pretrain_world_clip", "(30 minutes on 2 CPU cores)")


def packaged_clip_path(folder: str, what: str, tool: str, how_long: str, extra_flags: str = "") -> Path:
    """`cpt_lightning/assets/<folder>`, or `FileNotFoundError` naming `what` and the `tool` command that makes it."""
    path = Path(str(resources.files("cpt_lightning") / "assets" / folder))
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"No pretrained {what} at {path}. Create it with "
            f"`python -m cpt_lightning.tools.{tool} --out {path}{extra_flags}` {how_long}."
        )
    return path
