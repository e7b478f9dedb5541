"""Peak memory and time of one forward+backward of prompted text features for 1,000 classes.

Compares, side by side in one run, the naive computation (all classes in one
text-tower batch, activations kept for backward) with the bounded one
(`text_batch_size` chunks under activation checkpointing), at ViT-B/16
text-tower size with random weights, and checks the gradients agree.

Each variant runs in a fresh subprocess so that its peak memory is its own:
on CUDA `torch.cuda.max_memory_allocated`; on CPU the growth of the process's
peak resident set (`ru_maxrss`) over the forward+backward, which is what an
out-of-memory kill would see.

    python benchmarks/text_encoding_memory.py [--classes 1000] [--chunk 100] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import imagenet_classnames, parse_args_with_smoke, save_clip  # noqa: E402

SMOKE = dict(size="small", classes=8, chunk=4, repeats=1)


def _reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS and return that RSS in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _proc_status_mb("VmRSS")


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_variant(clip_dir: str, classes: int, chunk: int | None, checkpointed: bool, repeats: int, out: str) -> None:
    from cpt_lightning.models import CoOpPromptLearner, FrozenClip

    device = "cuda" if torch.cuda.is_available() else "cpu"
    clip = FrozenClip.from_pretrained(clip_dir).to(device)
    names = imagenet_classnames(classes)
    learner = CoOpPromptLearner(clip, names, text_batch_size=chunk, checkpoint_text=checkpointed).to(device)
    learner.tokenize_classnames(clip, names)
    target = torch.randn(classes, clip.config.projection_dim, generator=torch.Generator().manual_seed(0)).to(device)
    times, baseline = [], _reset_peak_rss()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.max_memory_allocated() / 2**20
    for _ in range(repeats):
        learner.ctx.grad = None
        start = time.perf_counter()
        # A per-class mean, as cross-entropy averages: gradients of the scale a training step sees.
        loss = (learner.encode_text(clip, names) * target).sum(dim=-1).mean()
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _proc_status_mb("VmHWM")
    torch.save(learner.ctx.grad.cpu(), out + ".grad.pt")
    Path(out).write_text(
        json.dumps({"device": device, "peak_mb": peak - baseline, "median_s": statistics.median(times)})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "b16"], default="b16")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", choices=["naive", "bounded"], help=argparse.SUPPRESS)
    parser.add_argument("--clip-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parse_args_with_smoke(parser, SMOKE)
    if args.variant:
        naive = args.variant == "naive"
        run_variant(args.clip_dir, args.classes, None if naive else args.chunk, not naive, args.repeats, args.out)
        return

    clip_dir = save_clip(args.size)
    work = Path(tempfile.mkdtemp(prefix="textmem_"))
    results = {}
    for variant in ("naive", "bounded"):
        out = str(work / f"{variant}.json")
        command = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--clip-dir",
            str(clip_dir),
            "--out",
            out,
            "--classes",
            str(args.classes),
            "--chunk",
            str(args.chunk),
            "--repeats",
            str(args.repeats),
        ]
        subprocess.run(command, check=True)
        results[variant] = json.loads(Path(out).read_text())
        results[variant]["grad"] = torch.load(out + ".grad.pt")
    naive, bounded = results["naive"], results["bounded"]
    grad_diff = (naive["grad"] - bounded["grad"]).abs().max().item()
    grad_scale = naive["grad"].abs().max().item()
    print(
        f"text features for {args.classes} classes, {args.size} CLIP text tower (random weights), on {naive['device']}"
    )
    print(f"| variant | peak memory (MiB) | fwd+bwd time (s, median of {args.repeats}) |")
    print("|---|---|---|")
    print(f"| naive (one batch) | {naive['peak_mb']:.0f} | {naive['median_s']:.2f} |")
    print(f"| bounded (chunks of {args.chunk}, checkpointed) | {bounded['peak_mb']:.0f} | {bounded['median_s']:.2f} |")
    print(f"memory ratio bounded/naive: {bounded['peak_mb'] / naive['peak_mb']:.3f}")
    print(f"time ratio bounded/naive: {bounded['median_s'] / naive['median_s']:.2f}")
    print(
        f"max |grad difference|: {grad_diff:.2e} (max |grad| {grad_scale:.2e}, relative {grad_diff / grad_scale:.1e})"
    )


if __name__ == "__main__":
    main()
