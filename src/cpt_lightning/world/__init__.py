"""The built-in demo world: procedural image-caption data and a small CLIP pretrained on it.

Every picture is a 32x32 RGB render of one object with a size, pattern, colour and shape, drawn in
a style ("photo" is the clean pretraining look; "sketch", "dark", "sepia", "clutter" and "blur" are
downstream shifts). Everything is deterministic by seed (`numpy.random.default_rng`, never the
global RNG).

API:
    world_dataset_names() -> list[str]
        "sketches", "night", "sepia", "clutter", "blur".
    WorldDataset(name)
        `.classnames`: sorted natural-language class names ("red circle"); label k names
        `classnames[k]`, so base = first ceil(K/2), new = the rest.
        `.class_codes`: int64 [K, A] attribute codes of each class (`.spec.class_attributes` order).
        `.spec`: the `WorldDatasetSpec` (style, severity range, class attributes, description).
        `.render_split(split, counts, seed) -> (uint8 [N, 32, 32, 3], int64 labels [N])` where
        `split` is "train", "val" or "test" and `counts` images per class (int or one per class).
    render_split(name, split, counts, seed): the same, by dataset name.
    world_clip_path() -> Path
        the shipped pretrained CLIP directory (`CLIPModel.from_pretrained`, `AutoTokenizer`,
        `preprocessor_config.json` for `ImageSettings`).
    build_world_tokenizer(): the word-level tokenizer the world CLIP uses.
    sample_objects / make_captions / render: the generator underneath, for pretraining.

The pretraining command (tooling, not runtime) is
`python -m cpt_lightning.tools.pretrain_world_clip --out DIR`.
"""

from cpt_lightning.world.attributes import ATTRIBUTE_VALUES, ObjectBatch, sample_objects
from cpt_lightning.world.captions import make_captions
from cpt_lightning.world.checkpoint import world_clip_path
from cpt_lightning.world.datasets import (
    WORLD_DATASET_SPECS,
    WorldDataset,
    WorldDatasetSpec,
    render_split,
    world_dataset_names,
)
from cpt_lightning.world.render import render
from cpt_lightning.world.tokenizer import build_world_tokenizer

__all__ = [
    "ATTRIBUTE_VALUES",
    "ObjectBatch",
    "WORLD_DATASET_SPECS",
    "WorldDataset",
    "WorldDatasetSpec",
    "build_world_tokenizer",
    "make_captions",
    "render",
    "render_split",
    "sample_objects",
    "world_clip_path",
    "world_dataset_names",
]
