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
import time
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.tools.pretrain_world_clip import (
    PRETRAINING_SEVERITY,
    PRETRAINING_STYLES,
    contrastive_training,
    save_world_clip,
)
from cpt_lightning.tools.world_zero_shot import pixel_values, zero_shot_accuracy
from cpt_lightning.world.captions import caption_fits
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
TEXT_LENGTH = 16
DEFAULT_STEPS = 2500


def world2_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer over this world's words."""
    return build_world_tokenizer(words=hier_vocabulary_words())


def world2_clip_config(tokenizer: PreTrainedTokenizerFast) -> CLIPConfig:
    """The small CLIP architecture, with the tokenizer's special-token ids and a 64-d projection."""
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 128,
        "intermediate_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 32,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "image_size": IMAGE_SIZE,
        "patch_size": 8,
        "hidden_size": 128,
        "intermediate_size": 512,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION_DIM)


class HierPairStream(torch.utils.data.IterableDataset):
    """Endless batches (pixel_values, input_ids, attention_mask, fits) from one seeded generator."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, batch_size: int, seed: int) -> None:
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.seed = seed

    def __iter__(self):
        # A seed path disjoint from every dataset's (seed, crc32(name), split) stream.
        rng = np.random.default_rng((self.seed, 8_888_888))
        while True:
            objects = sample_hier_objects(self.batch_size, rng, PRETRAINING_STYLES, PRETRAINING_SEVERITY)
            captions, caption_codes = make_hier_captions(objects, rng)
            tokens = self.tokenizer(
                captions, padding="max_length", max_length=TEXT_LENGTH, truncation=True, return_tensors="pt"
            )
            fits = torch.from_numpy(caption_fits(caption_codes, objects.as_matrix())).float()
            pixels = pixel_values(render_hier(objects, rng), WORLD2_IMAGE_SETTINGS)
            yield pixels, tokens["input_ids"], tokens["attention_mask"], fits


def evaluate_hier(model: CLIPModel, tokenizer: PreTrainedTokenizerFast, per_class: int, seed: int) -> dict:
    """Zero-shot top-1 on the base and new halves of every dataset's test split."""
    from cpt_lightning.data.sampling import base_new_split

    results = {}
    for name in hier_dataset_names():
        dataset = HierWorldDataset(name)
        images, labels = dataset.render_split("test", per_class, seed)
        results[name] = {}
        for half, classes in zip(("base", "new"), base_new_split(len(dataset.classnames)), strict=True):
            mask = np.isin(labels, classes)
            results[name][half] = zero_shot_accuracy(
                model,
                tokenizer,
                WORLD2_IMAGE_SETTINGS,
                images[mask],
                labels[mask] - classes[0],
                [dataset.classnames[k] for k in classes],
            )
    return results


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
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    tokenizer = world2_tokenizer()
    model = CLIPModel(world2_clip_config(tokenizer))
    stream = torch.utils.data.DataLoader(
        HierPairStream(tokenizer, batch_size, seed), batch_size=None, num_workers=1, prefetch_factor=4
    )
    start = time.monotonic()
    on_step = None
    if save_every:

        def on_step(step: int) -> None:
            if step % save_every == 0:
                model.save_pretrained(out / "partial")
                (out / "partial" / "step.txt").write_text(str(step))

    step = contrastive_training(model, stream, max_steps, None, lr, on_step=on_step)
    summary = {
        "steps": step,
        "minutes": round((time.monotonic() - start) / 60, 2),
        "seed": seed,
        "batch_size": batch_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        # Evaluation seed 12345 is never a pretraining seed path (see HierPairStream).
        "zero_shot_test_seed_12345": evaluate_hier(model, tokenizer, per_class=eval_per_class, seed=12345),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_world_clip(model, tokenizer, out, WORLD2_IMAGE_SETTINGS)
    (out / "pretraining_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


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
