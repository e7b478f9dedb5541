"""Shared set-up for the benchmark scripts: ViT-B/16-sized random CLIPs and class names, offline."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = (REPO_ROOT / ".." / "shared").resolve()
sys.path.insert(0, str(REPO_ROOT / "src"))

from cpt_lightning.testing import vit_b16_config  # noqa: E402


def real_clip_tokenizer():
    """OpenAI's CLIP tokenizer, built from the BPE file in ../shared/clip-bpe."""
    from cpt_lightning.testing.clip_tokenizer import build_clip_tokenizer

    bpe = SHARED / "clip-bpe" / "bpe_simple_vocab_16e6.txt.gz"
    if not bpe.is_file():
        sys.exit(f"Missing {bpe}: the benchmarks build the real CLIP tokenizer from the project's shared/ folder.")
    return build_clip_tokenizer(bpe, Path(tempfile.mkdtemp(prefix="clip_tok_")))


def imagenet_classnames(count: int = 1000) -> list[str]:
    """ImageNet's class names (from ../shared), repeated with a suffix if more are asked for."""
    path = SHARED / "datasets" / "imagenet-sample" / "classnames.txt"
    if not path.is_file():
        sys.exit(f"Missing {path}: the benchmarks take ImageNet's class names from the shared/ folder.")
    names = [line.split(" ", 1)[1].strip() for line in path.read_text().splitlines() if line.strip()]
    return [names[i % len(names)] + ("" if i < len(names) else f" {i // len(names)}") for i in range(count)]


def save_vit_b16_clip(out_dir: Path | None = None) -> Path:
    """A ViT-B/16-sized random CLIP with the real tokenizer, written with `save_pretrained`."""
    from cpt_lightning.testing import save_random_clip

    tokenizer = real_clip_tokenizer()
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="clip_b16_"))
    return save_random_clip(out_dir, tokenizer, config=vit_b16_config(tokenizer))


def save_small_clip(out_dir: Path | None = None) -> Path:
    """The test suite's tiny random CLIP (hidden 32, 2 layers, 32 px) with the real tokenizer."""
    from cpt_lightning.testing import save_random_clip

    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="clip_small_"))
    return save_random_clip(out_dir, real_clip_tokenizer())


def save_clip(size: str, out_dir: Path | None = None) -> Path:
    """`size` "small" (the tests' tiny CLIP) or "b16" (ViT-B/16 architecture), random weights."""
    if size not in ("small", "b16"):
        sys.exit(f"--size must be 'small' or 'b16', got {size!r}.")
    return save_small_clip(out_dir) if size == "small" else save_vit_b16_clip(out_dir)


def parse_args_with_smoke(
    parser: argparse.ArgumentParser, smoke: dict[str, Any], argv: list[str] | None = None
) -> argparse.Namespace:
    """`parser`'s arguments plus `--smoke`: the same code path at the sizes in `smoke`, in seconds on a CPU
    (CI, and the documented-commands test, which appends `--smoke` to a documented command). As in
    `gpu.py --smoke`, the smoke sizes replace the measurement's sizes, those typed included, and say so."""
    sizes = ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in smoke.items())
    parser.add_argument("--smoke", action="store_true", help=f"tiny sizes, in seconds (replaces: {sizes})")
    args = parser.parse_args(argv)
    if args.smoke:
        for key, value in smoke.items():
            setattr(args, key, value)
        print(f"--smoke: {sizes} (a check that the code runs, not a measurement)")
    return args


SIZES = ("small", "world", "world2", "b16")


def benchmark_clip(size: str, classes: int) -> tuple[str, list[str]]:
    """(clip_name_or_path, class names) for `size`: the tests' tiny random CLIP or a random ViT-B/16 with
    ImageNet's names, "world", the shipped pretrained world CLIP (1.3M parameters, the demo's model)
    with the "sketches" dataset's class names (at most 64), or "world2", the hierarchical world's CLIP
    (the study's model) with the "night" dataset's class names (at most 256; a study fit trains on 128)."""
    if size == "world2":
        from cpt_lightning.world.hier import HierWorldDataset

        names = HierWorldDataset("night").classnames
        if classes > len(names):
            sys.exit(f"--size world2 has {len(names)} class names; ask for --classes <= {len(names)}.")
        return "builtin:world2_clip", list(names[:classes])
    if size == "world":
        from cpt_lightning.world import WorldDataset

        names = WorldDataset("sketches").classnames
        if classes > len(names):
            sys.exit(f"--size world has {len(names)} class names; ask for --classes <= {len(names)}.")
        return "builtin:world_clip", list(names[:classes])
    return str(save_clip(size)), imagenet_classnames(classes)


def machine_line() -> str:
    """CPU count, torch threads, load average and accelerator, for the record."""
    import os

    import torch

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load {load}, {device}"
