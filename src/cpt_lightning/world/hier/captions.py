"""Captions of the hierarchical world: each attribute named by its member, by its family, or not at all.

A caption describes the object as "[colour] shape-noun": the colour is its shade ("navy"), its
family ("bluish") or left out; the shape is itself ("pentagon"), its family ("angular shape") or
the bare noun "shape". Naming a family is what teaches the text encoder that navy and sky are both
bluish. Styles are named rarely, as in the demo world (`cpt_lightning.world.captions`). Alongside
each caption come its codes in `CODE_COLUMNS` order, -1 for every level the caption leaves open,
so `cpt_lightning.world.captions.caption_fits` tells which pictures a caption fits.
"""

from __future__ import annotations

import numpy as np

from cpt_lightning.world.attributes import STYLES
from cpt_lightning.world.captions import NEUTRAL_TEMPLATES, STYLE_TEMPLATES, UNSPECIFIED
from cpt_lightning.world.hier.attributes import COLOUR_FAMILIES, COLOURS, SHAPE_FAMILIES, SHAPES, HierObjects

# Probabilities of naming the member, naming the family, or leaving the attribute out.
COLOUR_NAMING = (0.55, 0.25, 0.20)
SHAPE_NAMING = (0.60, 0.28, 0.12)
STYLE_MENTION_PROBABILITY = 0.2

_COLOUR_FAMILY_WORDS = tuple(COLOUR_FAMILIES)
_SHAPE_FAMILY_WORDS = tuple(SHAPE_FAMILIES)


def describe_hier(colour: str | None, shape: str | None, shape_family: str | None = None) -> str:
    """The noun phrase: "navy pentagon", "bluish angular shape", "pentagon", "shape"."""
    noun = shape or (f"{shape_family} shape" if shape_family else "shape")
    return f"{colour} {noun}" if colour else noun


def make_hier_captions(objects: HierObjects, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """One caption per object, and its codes [N, 5] (`CODE_COLUMNS` order, -1 = left open)."""
    codes = objects.as_matrix().copy()
    n = len(objects)
    colour_level = rng.choice(3, size=n, p=COLOUR_NAMING)  # 0 member, 1 family, 2 none
    shape_level = rng.choice(3, size=n, p=SHAPE_NAMING)
    codes[colour_level >= 1, 1] = UNSPECIFIED
    codes[colour_level == 2, 0] = UNSPECIFIED
    codes[shape_level >= 1, 3] = UNSPECIFIED
    codes[shape_level == 2, 2] = UNSPECIFIED
    codes[rng.uniform(size=n) >= STYLE_MENTION_PROBABILITY, 4] = UNSPECIFIED
    template_draw = rng.uniform(size=n)

    captions = []
    for (cf, c, sf, s, style), draw in zip(codes.tolist(), template_draw, strict=True):
        colour = COLOURS[c] if c != UNSPECIFIED else _COLOUR_FAMILY_WORDS[cf] if cf != UNSPECIFIED else None
        shape = SHAPES[s] if s != UNSPECIFIED else None
        family = _SHAPE_FAMILY_WORDS[sf] if sf != UNSPECIFIED else None
        templates = NEUTRAL_TEMPLATES if style == UNSPECIFIED else STYLE_TEMPLATES[STYLES[style]]
        captions.append(templates[int(draw * len(templates))].format(describe_hier(colour, shape, family)))
    return captions, codes


def hier_vocabulary_words() -> list[str]:
    """Every word the captions and class names can use (for the tokenizer's vocabulary)."""
    words = {"shape", ".", ",", "a", "an", "of", "the", "photo"}
    words.update(COLOURS, SHAPES, COLOUR_FAMILIES, SHAPE_FAMILIES, STYLES)
    for template in (*NEUTRAL_TEMPLATES, *(t for ts in STYLE_TEMPLATES.values() for t in ts)):
        words.update(template.replace("{}", " ").replace(".", " . ").split())
    return sorted(words)
