"""Captions of the demo world: a few templates, with attributes dropped at random, styles named rarely.

A caption describes the main object as "[size] [pattern] [colour] shape"; each attribute is left out
with probability `drop_probability` (a dropped shape becomes the generic noun "shape"). The picture's
style is named only with probability `style_mention_probability`, so the pretrained text encoder
knows the style words but zero-shot prompts ("a photo of a red circle.") never carry them -- the gap
a learned prompt context can close. Alongside each caption comes its attribute codes, with -1 for
every attribute the caption leaves open, so a loss can tell which pictures a caption fits.
"""

from __future__ import annotations

import numpy as np

from cpt_lightning.world.attributes import ATTRIBUTE_VALUES, STYLES, ObjectBatch

UNSPECIFIED = -1

# Templates that leave the style open; "{}" is the object description.
NEUTRAL_TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "an image of a {}.", "a {}.", "there is a {}.")

# Templates that name a style; "photo" is the clean look, named explicitly.
STYLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "photo": ("a clean photo of a {}.", "a sharp photo of a {}."),
    "sketch": ("a sketch of a {}.", "a drawing of a {}.", "an outline sketch of a {}."),
    "dark": ("a dark photo of a {}.", "a photo of a {} at night.", "a dim photo of a {}."),
    "sepia": ("a sepia photo of a {}.", "an old photo of a {}.", "a vintage photo of a {}."),
    "clutter": ("a cluttered photo of a {}.", "a photo of a {} among other shapes.", "a busy photo of a {}."),
    "blur": ("a blurry photo of a {}.", "a blurred photo of a {}.", "an out of focus photo of a {}."),
}


def describe(size: str | None, pattern: str | None, colour: str | None, shape: str | None) -> str:
    """The noun phrase for an object; `None` leaves an attribute out ("large red shape")."""
    words = [size, pattern, colour, shape or "shape"]
    return " ".join(word for word in words if word)


def make_captions(
    objects: ObjectBatch,
    rng: np.random.Generator,
    drop_probability: float = 0.3,
    shape_drop_probability: float = 0.1,
    style_mention_probability: float = 0.2,
) -> tuple[list[str], np.ndarray]:
    """One caption per object, and its attribute codes [N, 5] (`ATTRIBUTE_VALUES` order, -1 = open)."""
    codes = objects.as_matrix().copy()
    n = len(objects)
    drop = rng.uniform(size=(n, 4)) < np.array([drop_probability] * 3 + [shape_drop_probability])
    codes[:, :4][drop] = UNSPECIFIED
    codes[rng.uniform(size=n) >= style_mention_probability, 4] = UNSPECIFIED
    template_draw = rng.uniform(size=n)

    names = list(ATTRIBUTE_VALUES)
    captions = []
    for row, draw in zip(codes, template_draw, strict=True):
        named = zip(names[:4], row[:4], strict=True)
        words = [ATTRIBUTE_VALUES[name][c] if c != UNSPECIFIED else None for name, c in named]
        style = row[4]
        templates = NEUTRAL_TEMPLATES if style == UNSPECIFIED else STYLE_TEMPLATES[STYLES[style]]
        captions.append(templates[int(draw * len(templates))].format(describe(*words)))
    return captions, codes


def caption_fits(caption_codes: np.ndarray, picture_codes: np.ndarray) -> np.ndarray:
    """Boolean [N_pictures, N_captions]: caption j is true of picture i (every attribute it names matches)."""
    named = caption_codes[None, :, :] != UNSPECIFIED
    agree = caption_codes[None, :, :] == picture_codes[:, None, :]
    return np.all(agree | ~named, axis=2)


def vocabulary_words() -> list[str]:
    """Every word the captions and class names can use (for building the tokenizer's vocabulary)."""
    words = {"shape", ".", ",", "a", "an", "of", "the", "photo"}
    for values in ATTRIBUTE_VALUES.values():
        words.update(values)
    for template in (*NEUTRAL_TEMPLATES, *(t for ts in STYLE_TEMPLATES.values() for t in ts)):
        words.update(template.replace("{}", " ").replace(".", " . ").split())
    return sorted(words)
