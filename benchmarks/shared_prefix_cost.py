"""A CoOp text step with the shared context prefix encoded once vs HF's full forward of every prompt.

Two `CPTModule`s on the same CLIP and classes, one with `CoOpPromptLearner(shared_prefix=True)` (the
default) and one with `shared_prefix=False`, each doing the text side of a training step (prompted
text features, logits against fixed image features, cross-entropy, backward, AdamW) in alternation;
the median CPU time of each and their ratio, interleaved in one process.

    python benchmarks/shared_prefix_cost.py --clip world --classes 32
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, parse_args_with_smoke  # noqa: E402

from cpt_lightning.data.world import WorldDataModule  # noqa: E402
from cpt_lightning.models import CoOpPromptLearner, CPTModule  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="world", choices=["world"], help="the shipped world CLIP")
    parser.add_argument("--classes", type=int, default=32, help="world classes prompted per step")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per variant")
    parser.add_argument("--threads", type=int, default=1)
    args = parse_args_with_smoke(parser, {"classes": 4, "steps": 3})
    torch.set_num_threads(args.threads)
    names = WorldDataModule("sketches").classnames[: args.classes]
    steps = {}
    for shared in (True, False):
        learner = functools.partial(CoOpPromptLearner, shared_prefix=shared)
        module = CPTModule(names, clip_name_or_path=f"builtin:{args.clip}_clip", prompt_learner=learner)
        steps[shared] = (module, torch.optim.AdamW(module.prompt_learner.parameters(), lr=0.01))
    generator = torch.Generator().manual_seed(0)
    dim = steps[True][0].clip.config.projection_dim
    images = torch.nn.functional.normalize(torch.randn(32, dim, generator=generator), dim=-1)
    labels = torch.randint(0, len(names), (32,), generator=generator)

    def step(shared: bool) -> float:
        module, optimizer = steps[shared]
        started = time.process_time()
        logits = module.logits(images, module.prompted_text_features())
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()
        return time.process_time() - started

    for _ in range(max(2, args.steps // 10)):  # warm-up
        step(True), step(False)
    times = {True: [], False: []}
    for _ in range(args.steps):
        for shared in (True, False):
            times[shared].append(step(shared))
    shared_ms, full_ms = (1e3 * statistics.median(times[flag]) for flag in (True, False))
    print(machine_line())
    print(f"{args.clip} CLIP, {len(names)} classes, batch 32, {args.steps} interleaved steps each (CPU time)")
    print(f"shared prefix {shared_ms:.2f} ms, HF forward {full_ms:.2f} ms: ratio {shared_ms / full_ms:.3f}")


if __name__ == "__main__":
    main()
