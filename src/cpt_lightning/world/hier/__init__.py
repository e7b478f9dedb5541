"""The hierarchical world: 256 classes per dataset under two-level colour and shape families, and its CLIP.

Built to test CPT's claim that cluster-local neural-collapse terms help where a global ETF cannot:
more base classes (128) than the 64-dimensional embedding holds as one simplex, and semantic
clusters (families) that every new class shares with base classes. See docs/world.md.

API:
    hier_dataset_names() -> ["sketches", "night", "clutter", "blur"]
    HierWorldDataset(name): `.classnames` in label order (base = first half, by the field's rule),
        `.class_codes` int64 [K, 4] (colour family, colour, shape family, shape),
        `.render_split(split, counts, seed)` -> uint8 [N, 32, 32, 3], int64 [N].
    world2_clip_path(): the shipped CLIP's directory (`builtin:world2_clip` in configs).
    The pretraining command: `python -m cpt_lightning.tools.pretrain_world2_clip --out DIR --seed 0`.
"""

from cpt_lightning.world.hier.attributes import COLOUR_FAMILIES, SHAPE_FAMILIES, HierObjects, sample_hier_objects
from cpt_lightning.world.hier.captions import make_hier_captions
from cpt_lightning.world.hier.checkpoint import world2_clip_path
from cpt_lightning.world.hier.datasets import HIER_DATASET_SPECS, HierWorldDataset, hier_dataset_names
from cpt_lightning.world.hier.render import render_hier

__all__ = [
    "COLOUR_FAMILIES",
    "HIER_DATASET_SPECS",
    "HierObjects",
    "HierWorldDataset",
    "SHAPE_FAMILIES",
    "hier_dataset_names",
    "make_hier_captions",
    "render_hier",
    "sample_hier_objects",
    "world2_clip_path",
]
