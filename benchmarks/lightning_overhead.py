"""Train-step time of `CPTModule` (CoOp preset) under a Lightning `Trainer` vs a hand-written PyTorch loop.

Both sides train the same module object's prompt learner through the same
frozen CLIP on the same batch (served by the same kind of DataLoader), with
SGD. A step is timed from one batch's start to the next one's (Lightning: a
callback's `on_train_batch_start`; the plain loop: the top of its body), so
the loop's own work -- fetching, hooks, logging, the optimizer -- is inside
and the start-up (Trainer construction, `fit` set-up, teardown) is outside.
The first `--warmup` steps of each run are dropped. The two sides alternate
`--repeats` times in one process, so contention from other jobs on the
machine affects both; the ratio reported is the median over repeats of
(Lightning median step) / (plain median step), in wall time and in process CPU
time (the latter is what other jobs' contention disturbs least).

A third run, `lightning_minimal_module`, puts the plain loop's step into a
bare LightningModule under the same Trainer: the gap between it and the plain
loop is Lightning's own per-step floor, the rest is `CPTModule`'s. With
`--breakdown`, `CPTModule` also runs with Lightning's default callbacks (a
progress bar redrawn every step), without the progress bar, and in a bare
Trainer (no progress bar, logger or checkpointing).

The Trainer is configured like a `cpt fit` run: `configs/trainer/benchmark.yaml`'s
callbacks read from the file (checkpointing, LR monitor) and the CLI's progress
bar (redrawn every 10 steps) on the CPU, a CSV logger, `log_every_n_steps=10`.

Sizes: `small` is the tests' tiny random CLIP (a 3-4 ms step), `world` the
shipped pretrained world CLIP (the demo's model), `world2` the hierarchical
world's CLIP (the study's model; its 128 base classes are a study fit's), `b16`
a random ViT-B/16.

    python benchmarks/lightning_overhead.py --size small
    python benchmarks/lightning_overhead.py --size world --classes 32
    python benchmarks/lightning_overhead.py --size world2 --classes 128
    python benchmarks/lightning_overhead.py --size b16 --batch 8 --steps 6 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SIZES, benchmark_clip, machine_line, parse_args_with_smoke  # noqa: E402
from _timing import Stamp, clock, fixed_batch_loader, print_comparison, step_times, timed_fit  # noqa: E402

from cpt_lightning.models import CPTModule  # noqa: E402
from cpt_lightning.optim import coop_sgd  # noqa: E402

TARGET = 1.05


def plain_loop(module: CPTModule, loader: DataLoader, steps: int, device: str = "cpu", sync=None) -> list[Stamp]:
    """The minimal CoOp loop: frozen image features, prompted text features, cross-entropy, SGD.

    On a GPU, `sync` (e.g. `torch.cuda.synchronize`) runs before each stamp so a step's queued kernels
    are inside it."""
    module.to(device)
    clip, learner, classnames = module.clip, module.prompt_learner, module.classnames
    optimizer = coop_sgd(learner.parameters())
    starts = []
    for step, (pixel_values, labels) in enumerate(loader):
        if sync is not None:
            sync()
        starts.append(clock())
        if step == steps:
            break
        pixel_values, labels = pixel_values.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with torch.no_grad():
            image_features = clip.encode_images(pixel_values)
        text_features = learner.encode_text(clip, classnames)
        logits = clip.logit_scale * image_features @ text_features.t()
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return starts


class MinimalCoOp(LightningModule):
    """The plain loop's step as a bare LightningModule (no logging, no metrics): Lightning's own floor."""

    def __init__(self, module: CPTModule) -> None:
        super().__init__()
        self.clip, self.learner, self.classnames = module.clip, module.prompt_learner, module.classnames

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pixel_values, labels = batch
        with torch.no_grad():
            image_features = self.clip.encode_images(pixel_values)
        text_features = self.learner.encode_text(self.clip, self.classnames)
        return F.cross_entropy(self.clip.logit_scale * image_features @ text_features.t(), labels)

    def configure_optimizers(self):
        return coop_sgd(self.learner.parameters())


SMOKE = dict(size="small", classes=4, batch=4, steps=2, warmup=1, repeats=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="steps dropped at the start of each run")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="also CPTModule without progress bar / bare")
    args = parse_args_with_smoke(parser, SMOKE)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # Lightning's num_workers / logging hints are noise here

    clip_name_or_path, classnames = benchmark_clip(args.size, args.classes)
    module = CPTModule(classnames, clip_name_or_path=clip_name_or_path)
    size = module.clip.config.vision_config.image_size
    steps = args.warmup + args.steps
    loader = fixed_batch_loader(args.batch, size, args.classes, steps + 2)
    work_dir = Path(tempfile.mkdtemp(prefix="lightning_overhead_"))

    minimal = MinimalCoOp(module)
    runs = {
        "plain": lambda: plain_loop(module, loader, steps),
        "lightning": lambda: timed_fit(module, loader, steps, work_dir),
        "lightning_minimal_module": lambda: timed_fit(minimal, loader, steps, work_dir),
    }
    if args.breakdown:  # where Lightning's floor goes: the progress bar, then logger and checkpointing
        runs["lightning_default_callbacks"] = lambda: timed_fit(
            module, loader, steps, work_dir, shipped_callbacks=False
        )
        runs["lightning_no_progress_bar"] = lambda: timed_fit(
            module, loader, steps, work_dir, enable_progress_bar=False
        )
        runs["lightning_bare_trainer"] = lambda: timed_fit(
            module, loader, steps, work_dir, enable_progress_bar=False, logger=False, enable_checkpointing=False
        )
    results: dict[str, list[Stamp]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            results[name].append(step_times(run(), args.warmup))

    print(
        f"CPTModule (CoOp preset) under Lightning vs a plain PyTorch loop; CLIP {args.size} (random weights), "
        f"{args.classes} classes, batch {args.batch} at {size}px, {args.steps} timed steps x {args.repeats} repeats"
    )
    print(machine_line())
    print_comparison(results, "plain", "lightning", TARGET)
    for name in list(results)[2:]:
        ratios = [run[1] / plain[1] for plain, run in zip(results["plain"], results[name], strict=True)]
        print(
            f"{name} / plain (CPU time): median {statistics.median(ratios):.3f} "
            f"(per repeat: {', '.join(f'{r:.3f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
