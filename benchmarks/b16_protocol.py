"""A ViT-B/16-size protocol (2 methods x 3 seeds on a miniature dataset) with the default eval cache vs without.

Writes a random-weight ViT-B/16 CLIP (`save_pretrained`, cpt_lightning.testing's config) and a miniature
image-folder dataset (`--classes` classes, base-to-new, noise images) to a temporary folder, then runs
the protocol CoOp + CPT x seeds 1 2 3 with `cpt-reproduce --in-process`, alternately with the shipped
default (`feature_cache: {splits: eval}`) and with `--data.init_args.feature_cache=null`, `--repeats`
times. Each variant starts from an empty feature-cache folder. Prints one JSON line per run of the
protocol: wall and CPU seconds, and the seconds inside training and evaluation batches.

    python benchmarks/b16_protocol.py --repeats 1
    python benchmarks/b16_protocol.py --smoke    # the same code with the tests' tiny CLIP, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, imagenet_classnames, machine_line, parse_args_with_smoke, save_clip  # noqa: E402
from step_share import StepShare  # noqa: E402

from cpt_lightning.reproduce.cli import main as reproduce  # noqa: E402


def write_miniature(root: Path, classes: int, train: int, test: int) -> None:
    """Noise images (60 x 50 px), darker per class, under `root/{train,test}/<class>/`."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        for label, name in enumerate(imagenet_classnames(classes)):
            folder = root / split / name.replace(" ", "_").replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8) // (label % 4 + 1)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def write_protocol(work: Path, clip: Path, args: argparse.Namespace) -> Path:
    run_config = {
        "seed_everything": 1,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": args.epochs, "logger": False,
                    "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
                    "num_sanity_val_steps": 0, "callbacks": [{"class_path": "step_share.StepShare"}]},
        "model": {"clip_name_or_path": str(clip)},
        "data": {"class_path": "cpt_lightning.data.ImageFolderDataModule",
                 "init_args": {"root": str(work / "mini"), "shots": args.shots, "subsample": "base_to_new",
                               "batch_size": 4, "eval_batch_size": 16, "num_workers": 0,
                               "feature_cache": {"splits": "eval"}}},
    }  # fmt: skip
    (work / "mini.yaml").write_text(yaml.safe_dump(run_config))
    protocol = {
        "name": "b16_mini",
        "datasets": {"mini": str(work / "mini.yaml")},
        # A method preset is a `--config` file (its `model:` keys and the cluster settings).
        "methods": {m: [str(REPO_ROOT / "configs" / "methods" / f"{m}.yaml")] for m in ("coop", "cpt")},
        "seeds": [1, 2, 3],
    }
    (work / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    return work / "protocol.yaml"


def run_once(protocol: Path, out: Path, cache_dir: Path, cached: bool) -> dict:
    os.environ["CPT_FEATURE_CACHE"] = str(cache_dir)
    StepShare.totals.clear()
    argv = [str(protocol), "--out", str(out), "--in-process"]
    if not cached:
        argv += ["--override", "data.init_args.feature_cache=null"]
    started, started_cpu = time.perf_counter(), time.process_time()
    reproduce(argv)
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    runs = len(list(out.rglob("results.json")))
    train, evaluation = StepShare.totals.get("train", 0.0), StepShare.totals.get("eval", 0.0)
    return {"variant": "eval cache (default)" if cached else "no cache", "runs": runs, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "train_steps_s": round(train, 2), "eval_steps_s": round(evaluation, 2),
            "eval_share": round(evaluation / wall, 3),
            "eval_steps_cpu_s": round(StepShare.totals.get("eval_cpu", 0.0), 2),
            "eval_share_cpu": round(StepShare.totals.get("eval_cpu", 0.0) / cpu, 3),
            "table": (out / "b16_mini" / "table.csv").read_text()}  # fmt: skip


SMOKE = dict(size="small", classes=4, shots=1, train_per_class=1, test_per_class=1, epochs=1, repeats=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "b16"], default="b16")
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--train-per-class", type=int, default=4)
    parser.add_argument("--test-per-class", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parse_args_with_smoke(parser, SMOKE)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="b16_protocol_"))
    write_miniature(work / "mini", args.classes, args.train_per_class, args.test_per_class)
    protocol = write_protocol(work, save_clip(args.size, work / "clip"), args)
    print(machine_line())
    tables = set()
    for repeat in range(args.repeats):
        for cached in (True, False):
            name = f"r{repeat}-{'cache' if cached else 'pixels'}"
            result = run_once(protocol, work / name, work / f"{name}-features", cached)
            tables.add(result.pop("table"))
            print(json.dumps(result), flush=True)
    print(f"identical tables across variants and repeats: {len(tables) == 1}")


if __name__ == "__main__":
    main()
