"""Where the pretrained demo-world CLIP ships inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def world_clip_path() -> Path:
    """Directory of the shipped world CLIP (model, tokenizer, preprocessor config), for `from_pretrained`.

    Raises `FileNotFoundError` naming the directory and the command that creates it when it is missing.
    """
    path = Path(str(resources.files("cpt_lightning") / "assets" / "world_clip"))
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"No pretrained world CLIP at {path}. Create it with "
            f"`python -m cpt_lightning.tools.pretrain_world_clip --out {path}` (30 minutes on 2 CPU cores)."
        )
    return path
