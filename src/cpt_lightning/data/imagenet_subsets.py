"""The 200 ImageNet classes of ImageNet-A and ImageNet-R, as WordNet ids in ImageNet label order.

The ids are data, shipped as `assets/imagenet_subsets.json` (with their source); this module only
reads them.
"""

from __future__ import annotations

import json
from importlib import resources


def _load_subsets() -> dict[str, tuple[str, ...]]:
    text = (resources.files("cpt_lightning") / "assets" / "imagenet_subsets.json").read_text()
    return {name: tuple(wnids) for name, wnids in json.loads(text).items() if name != "about"}


_SUBSETS = _load_subsets()
IMAGENET_A_WNIDS = _SUBSETS["imagenet_a"]
IMAGENET_R_WNIDS = _SUBSETS["imagenet_r"]
