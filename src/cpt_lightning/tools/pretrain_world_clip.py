"""Pretrain the demo world's small CLIP contrastively on endless procedurally rendered image-caption pairs.

    python -m cpt_lightning.tools.pretrain_world_clip --out src/cpt_lightning/assets/world_clip --seed 0

The default budget is 2686 steps: the shipped model was trained under a 30-minute wall-clock budget
on a shared 2-core machine, which ended at step 2686. A step budget makes the run the same on any
machine and under any load; `--minutes` adds a wall-clock budget (whichever ends first).

Pictures are mostly clean photos; a small share of every downstream style appears, at milder severity
than the world datasets use and named in the caption only now and then. Captions name a random
subset of the object's attributes, so several pictures in a batch can fit one caption: the loss is
CLIP's symmetric cross-entropy with every fitting pair as a positive (targets spread evenly over them).
The schedule (warm-up, cosine decay) runs on `max(step / steps, elapsed / minutes)`, so a time budget
and a step budget both end training cleanly. The output directory gets the model (safetensors),
tokenizer, `preprocessor_config.json` and `pretraining_summary.json` with zero-shot accuracies.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.tools.world_zero_shot import base_new_accuracies, pixel_values
from cpt_lightning.world.attributes import sample_objects
from cpt_lightning.world.captions import caption_fits, make_captions
from cpt_lightning.world.datasets import WorldDataset, world_dataset_names
from cpt_lightning.world.render import IMAGE_SIZE, render
from cpt_lightning.world.tokenizer import build_world_tokenizer

# Mean and std of pretraining pixels (measured over 4096 renders of PRETRAINING_STYLES).
WORLD_IMAGE_SETTINGS = ImageSettings(
    crop_size=IMAGE_SIZE,
    resize_shortest_edge=IMAGE_SIZE,
    mean=(0.761, 0.750, 0.746),
    std=(0.216, 0.215, 0.227),
    interpolation="bicubic",
)
PRETRAINING_STYLES = {
    "photo": 0.75,
    "sketch": 0.05,
    "dark": 0.05,
    "sepia": 0.05,
    "clutter": 0.05,
    "blur": 0.05,
}
PRETRAINING_SEVERITY = (0.0, 0.6)
TEXT_LENGTH = 16  # the longest caption is 13 tokens with its start and end tokens


def world_clip_config(tokenizer: PreTrainedTokenizerFast, projection_dim: int = 128) -> CLIPConfig:
    """The small CLIP architecture (about 1.3M parameters), with the tokenizer's special-token ids."""
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
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


class PairStream(torch.utils.data.IterableDataset):
    """Endless batches (pixel_values, input_ids, attention_mask, fits) from one seeded generator.

    `sample`, `caption` and `draw` are a world's object sampler, captioner and renderer (the demo
    world's by default); `seed_path` keeps the stream disjoint from that world's dataset streams.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerFast,
        batch_size: int,
        seed: int,
        sample: Callable = sample_objects,
        caption: Callable = make_captions,
        draw: Callable = render,
        settings: ImageSettings = WORLD_IMAGE_SETTINGS,
        seed_path: int = 7_777_777,
    ) -> None:
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.seed = seed
        self.sample, self.caption, self.draw = sample, caption, draw
        self.settings = settings
        self.seed_path = seed_path

    def __iter__(self):
        # A seed path disjoint from every world dataset's (seed, crc32(name), split) stream.
        rng = np.random.default_rng((self.seed, self.seed_path))
        while True:
            objects = self.sample(self.batch_size, rng, PRETRAINING_STYLES, PRETRAINING_SEVERITY)
            captions, caption_codes = self.caption(objects, rng)
            tokens = self.tokenizer(
                captions, padding="max_length", max_length=TEXT_LENGTH, truncation=True, return_tensors="pt"
            )
            fits = torch.from_numpy(caption_fits(caption_codes, objects.as_matrix())).float()
            pixels = pixel_values(self.draw(objects, rng), self.settings)
            yield pixels, tokens["input_ids"], tokens["attention_mask"], fits


def multi_positive_clip_loss(logits: torch.Tensor, fits: torch.Tensor) -> torch.Tensor:
    """Symmetric CE of image-to-text `logits` [B, B] against `fits`, spread evenly per row/column."""
    image_to_text = -(fits / fits.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(fits / fits.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


def learning_rate_factor(progress: float, warmup: float = 0.03) -> float:
    """Linear warm-up over the first `warmup` of training, then cosine decay to zero."""
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def evaluate(
    model: CLIPModel,
    tokenizer: PreTrainedTokenizerFast,
    per_class: int,
    seed: int,
    datasets: Iterable | None = None,
    settings: ImageSettings = WORLD_IMAGE_SETTINGS,
) -> dict:
    """Zero-shot top-1 on the base and new halves of every dataset's test split (default: the demo world's)."""
    results = {}
    for dataset in datasets if datasets is not None else map(WorldDataset, world_dataset_names()):
        images, labels = dataset.render_split("test", per_class, seed)
        results[dataset.name] = base_new_accuracies(model, tokenizer, settings, images, labels, dataset.classnames)
    return results


def save_world_clip(
    model: CLIPModel, tokenizer: PreTrainedTokenizerFast, out: Path, settings: ImageSettings = WORLD_IMAGE_SETTINGS
) -> None:
    """`save_pretrained` model, tokenizer, image `settings` into `out`; transformers 4.5x and 5.x load it."""
    model.save_pretrained(out)
    # Training tokenised with padding="max_length", which leaves padding switched on in the backend
    # tokenizer's saved state; the shipped tokenizer pads only when asked.
    tokenizer.backend_tokenizer.no_padding()
    tokenizer.backend_tokenizer.no_truncation()
    tokenizer.save_pretrained(out)
    # transformers 5 names its own backend class here, which 4.x cannot resolve; both resolve this one.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    # CLIP's text model takes no token_type_ids, which transformers 4.x would otherwise return.
    config["model_input_names"] = ["input_ids", "attention_mask"]
    config_path.write_text(json.dumps(config, indent=2))
    settings.save(out)


def contrastive_training(
    model: CLIPModel,
    batches,
    max_steps: int,
    minutes: float | None,
    lr: float,
    log_every: int = 50,
    on_step: Callable[[int], None] | None = None,
) -> int:
    """AdamW on the multi-positive CLIP loss over `batches` (pixels, ids, mask, fits); returns the steps taken.

    The schedule (warm-up, cosine decay) runs on `max(step / max_steps, elapsed / minutes)`.
    `on_step(step)` runs after every step (e.g. to save a partial model); it must not draw randomness.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    start, step, progress = time.monotonic(), 0, 0.0
    for pixels, input_ids, attention_mask, fits in batches:
        elapsed = time.monotonic() - start
        progress = step / max_steps if minutes is None else max(step / max_steps, elapsed / (60 * minutes))
        if progress >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr * learning_rate_factor(progress)
        outputs = model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixels)
        loss = multi_positive_clip_loss(outputs.logits_per_image, fits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        if step % log_every == 0:
            print(f"step {step} {elapsed / 60:.1f} min loss {loss.item():.3f}", flush=True)
        if on_step is not None:
            on_step(step)
    model.eval()
    return step


def train_and_save(
    out: Path,
    tokenizer: PreTrainedTokenizerFast,
    config: CLIPConfig,
    pairs: PairStream,
    max_steps: int,
    minutes: float | None,
    lr: float,
    seed: int,
    summarise: Callable[[CLIPModel], dict],
    settings: ImageSettings = WORLD_IMAGE_SETTINGS,
    threads: int = 1,
    save_every: int | None = None,
) -> dict:
    """Train a CLIP of `config` from scratch on `pairs`, save it to `out`, return the summary it writes.

    `summarise(model)` gives the summary's zero-shot evaluation. With `save_every`, a copy of the model
    so far goes to `out/partial` every that many steps; it changes neither the stream nor the weights.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = CLIPModel(config)
    stream = torch.utils.data.DataLoader(pairs, batch_size=None, num_workers=1, prefetch_factor=4)
    start = time.monotonic()
    on_step = None
    if save_every:

        def on_step(step: int) -> None:
            if step % save_every == 0:
                model.save_pretrained(out / "partial")
                (out / "partial" / "step.txt").write_text(str(step))

    step = contrastive_training(model, stream, max_steps, minutes, lr, on_step=on_step)
    summary = {
        "steps": step,
        "minutes": round((time.monotonic() - start) / 60, 2),
        "seed": seed,
        "batch_size": pairs.batch_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        # Evaluation seed 12345 is never a pretraining seed path (see PairStream).
        "zero_shot_test_seed_12345": summarise(model),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_world_clip(model, tokenizer, out, settings)
    (out / "pretraining_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def pretrain(
    out: Path, minutes: float | None, max_steps: int, seed: int, batch_size: int, lr: float, threads: int
) -> dict:
    """Train from scratch, save to `out`, and return the summary written to `pretraining_summary.json`."""
    tokenizer = build_world_tokenizer()
    return train_and_save(
        out,
        tokenizer,
        world_clip_config(tokenizer),
        PairStream(tokenizer, batch_size, seed),
        max_steps,
        minutes,
        lr,
        seed,
        lambda model: evaluate(model, tokenizer, per_class=20, seed=12345),
        threads=threads,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to save_pretrained into")
    parser.add_argument("--max-steps", type=int, default=2686, help="step budget (the shipped model's 2686)")
    parser.add_argument("--minutes", type=float, default=None, help="optional wall-clock budget (whichever ends first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    # One thread: on a shared, oversubscribed CPU, OpenMP threads spin-wait on each other (10x slower).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the training process")
    args = parser.parse_args(argv)
    summary = pretrain(args.out, args.minutes, args.max_steps, args.seed, args.batch_size, args.lr, args.threads)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
