"""Where the pretrained hierarchical-world CLIP ships inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def world2_clip_path() -> Path:
    """Directory of the shipped hierarchical-world CLIP (model, tokenizer, preprocessor config).

    Raises `FileNotFoundError` naming the directory and the command that creates it when it is missing.
    """
    path = Path(str(resources.files("cpt_lightning") / "assets" / "world2_clip"))
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"No pretrained hierarchical-world CLIP at {path}. Create it with "
            f"`python -m cpt_lightning.tools.pretrain_world2_clip --out {path} --seed 0` "
            "(about an hour on a loaded 2-core CPU)."
        )
    return path
