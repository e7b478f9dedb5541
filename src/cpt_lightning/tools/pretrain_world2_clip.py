"""Pretrain the hierarchical world's CLIP on endless rendered image-caption pairs, on a step budget.

    python -m cpt_lightning.tools.pretrain_world2_clip --out src/cpt_lightning/assets/world2_clip --seed 0

The same recipe as the demo world's CLIP (`cpt_lightning.tools.pretrain_world_clip`: multi-positive symmetric
CLIP loss, AdamW, warm-up then cosine decay, one torch thread), with this world's pictures and
captions and a 64-dimensional projection: 128 base classes are more than a 64-dimensional space can
hold as one simplex (a K-vector simplex ETF needs K - 1 dimensions), so a global ETF must bend the
frozen geometry where a cluster-local one need not. The budget is a step count, never the clock,
so the same command gives the same weights on any machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from transformers import CLIPConfig, PreTrainedTokenizerFast

from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.tools.pretrain_world_clip import (
    PRETRAINING_SEVERITY,
    PRETRAINING_STYLES,
    PairStream,
    evaluate,
    train_and_save,
    world_clip_config,
)
from cpt_lightning.world.hier.attributes import sample_hier_objects
from cpt_lightning.world.hier.captions import hier_vocabulary_words, make_hier_captions
from cpt_lightning.world.hier.datasets import HierWorldDataset, hier_dataset_names
from cpt_lightning.world.hier.render import render_hier
from cpt_lightning.world.render import IMAGE_SIZE
from cpt_lightning.world.tokenizer import build_world_tokenizer

# Mean and std of pretraining pixels (`python -m cpt_lightning.tools.pretrain_world2_clip --pixel-stats`).
WORLD2_IMAGE_SETTINGS = ImageSettings(
    crop_size=IMAGE_SIZE,
    resize_shortest_edge=IMAGE_SIZE,
    mean=(0.556, 0.554, 0.534),
    std=(0.181, 0.173, 0.183),
    interpolation="bicubic",
)
PROJECTION_DIM = 64
DEFAULT_STEPS = 2500


def world2_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer over this world's words."""
    return build_world_tokenizer(words=hier_vocabulary_words())


def world2_clip_config(tokenizer: PreTrainedTokenizerFast) -> CLIPConfig:
    """The demo world's small CLIP architecture, with the tokenizer's special-token ids and a 64-d projection."""
    return world_clip_config(tokenizer, projection_dim=PROJECTION_DIM)


def pretrain_hier(
    out: Path,
    max_steps: int,
    seed: int,
    batch_size: int,
    lr: float,
    save_every: int | None = None,
    eval_per_class: int = 10,
) -> dict:
    """Train from scratch, save to `out`, and return the summary written to `pretraining_summary.json`.

    With `save_every`, a copy of the model so far goes to `out/partial` every that many steps (for an
    early look at zero-shot); it does not change the training stream or the final weights, and neither
    does `eval_per_class` (test images per class of the summary's zero-shot evaluation).
    """
    tokenizer = world2_tokenizer()
    datasets = [HierWorldDataset(name) for name in hier_dataset_names()]
    pairs = PairStream(
        tokenizer,
        batch_size,
        seed,
        sample_hier_objects,
        make_hier_captions,
        render_hier,
        WORLD2_IMAGE_SETTINGS,
        8_888_888,
    )
    return train_and_save(
        out,
        tokenizer,
        world2_clip_config(tokenizer),
        pairs,
        max_steps,
        None,
        lr,
        seed,
        lambda model: evaluate(model, tokenizer, eval_per_class, 12345, datasets, WORLD2_IMAGE_SETTINGS),
        WORLD2_IMAGE_SETTINGS,
        save_every=save_every,
    )


def pixel_stats(n: int = 4096, seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of `n` pretraining renders (the numbers in `WORLD2_IMAGE_SETTINGS`)."""
    rng = np.random.default_rng((seed, 4321))
    images = render_hier(sample_hier_objects(n, rng, PRETRAINING_STYLES, PRETRAINING_SEVERITY), rng) / 255.0
    return images.mean(axis=(0, 1, 2)).round(3).tolist(), images.std(axis=(0, 1, 2)).round(3).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="directory to save_pretrained into")
    parser.add_argument("--max-steps", type=int, default=DEFAULT_STEPS, help="step budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--save-every", type=int, default=None, help="also save the model so far to OUT/partial")
    parser.add_argument("--eval-per-class", type=int, default=10, help="test images per class in the summary")
    parser.add_argument("--pixel-stats", action="store_true", help="print the pixel mean/std and exit")
    args = parser.parse_args(argv)
    if args.pixel_stats:
        print(pixel_stats())
        return
    if args.out is None:
        parser.error("--out is required")
    summary = pretrain_hier(
        args.out, args.max_steps, args.seed, args.batch_size, args.lr, args.save_every, args.eval_per_class
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
