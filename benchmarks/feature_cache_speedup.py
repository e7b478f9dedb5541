"""An epoch of CoOp prompt training at ViT-B/16 size with and without the frozen-feature cache.

`GeneratedDataModule` (224 px generated images, `--classes` x `--shots`,
batch `--batch`) trains `CPTModule` (CoOp preset) for one epoch, alternately
without a cache and with `FeatureCacheConfig` (`train_views=0`), `--repeats`
times in one process. An epoch is timed from `on_train_epoch_start` to
`on_train_epoch_end` (no validation). The cache is built by the first cached
fit when it creates its training loader, between `on_fit_start` and
`on_train_start`; that build time is reported on its own, as is the time the
later fits take to find and read the file.

    python benchmarks/feature_cache_speedup.py [--classes 10 --shots 16 --batch 32 --repeats 2] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from lightning.pytorch import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import imagenet_classnames, machine_line, parse_args_with_smoke, save_clip  # noqa: E402

from cpt_lightning.data.feature_cache import FeatureCacheConfig  # noqa: E402
from cpt_lightning.data.generated import GeneratedDataModule  # noqa: E402
from cpt_lightning.models import CPTModule  # noqa: E402
from cpt_lightning.testing import quiet_trainer  # noqa: E402

TARGET = 5.0
SMOKE = dict(size="small", classes=4, shots=2, batch=4, repeats=2)


class PhaseClock(Callback):
    """Wall-clock stamps of the fit's phases."""

    def __init__(self) -> None:
        self.stamps: dict[str, float] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        self.stamps["fit_start"] = time.perf_counter()

    def on_train_start(self, trainer, pl_module) -> None:
        self.stamps["train_start"] = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.stamps["epoch_start"] = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.stamps["epoch_end"] = time.perf_counter()

    def seconds(self, start: str, end: str) -> float:
        return self.stamps[end] - self.stamps[start]


def one_epoch(module: CPTModule, data: GeneratedDataModule, work_dir: Path, accelerator: str = "cpu") -> PhaseClock:
    phases = PhaseClock()
    trainer = quiet_trainer(work_dir, max_epochs=1, limit_val_batches=0, callbacks=[phases], accelerator=accelerator)
    trainer.fit(module, data)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "b16"], default="b16")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parse_args_with_smoke(parser, SMOKE)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # Lightning's num_workers hints are noise here

    classnames = imagenet_classnames(args.classes)
    module = CPTModule(classnames, clip_name_or_path=str(save_clip(args.size)))
    work_dir = Path(tempfile.mkdtemp(prefix="feature_cache_speedup_"))
    cache = FeatureCacheConfig(str(work_dir / "features"))
    image_size = module.clip.config.vision_config.image_size

    def data(feature_cache: FeatureCacheConfig | None) -> GeneratedDataModule:
        return GeneratedDataModule(
            classnames,
            train_per_class=args.shots,
            image_size=image_size,
            batch_size=args.batch,
            feature_cache=feature_cache,
        )

    epochs: dict[str, list[float]] = {"pixels": [], "cached": []}
    build_seconds, read_seconds = None, []
    for repeat in range(args.repeats):
        epochs["pixels"].append(one_epoch(module, data(None), work_dir).seconds("epoch_start", "epoch_end"))
        phases = one_epoch(module, data(cache), work_dir)
        epochs["cached"].append(phases.seconds("epoch_start", "epoch_end"))
        if repeat == 0:
            build_seconds = phases.seconds("fit_start", "train_start")
        else:
            read_seconds.append(phases.seconds("fit_start", "train_start"))

    ratios = [p / c for p, c in zip(epochs["pixels"], epochs["cached"], strict=True)]
    images = args.classes * args.shots
    print(
        f"one epoch of CoOp prompt training, CLIP {args.size} (random weights), {args.classes} classes x {args.shots} "
        f"shots = {images} images at {image_size}px, batch {args.batch}, {args.repeats} repeats"
    )
    print(machine_line())
    print("| run | epoch (s, median) |")
    print("|---|---|")
    print(f"| pixels (image tower every step) | {statistics.median(epochs['pixels']):.2f} |")
    print(f"| cached features | {statistics.median(epochs['cached']):.2f} |")
    print(f"cache build (first cached fit, once): {build_seconds:.2f} s for {images} images")
    if read_seconds:
        print(f"cache lookup and read (later fits): {statistics.median(read_seconds):.2f} s")
    median = statistics.median(ratios)
    verdict = "met" if median >= TARGET else "NOT met"
    per_repeat = ", ".join(f"{r:.1f}" for r in ratios)
    print(f"speed-up pixels / cached: median {median:.1f}x (per repeat: {per_repeat}); target >= {TARGET}x: {verdict}")


if __name__ == "__main__":
    main()
