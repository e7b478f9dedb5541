"""The GPU benchmark: ViT-B/16-size CoOp and CPT on one CUDA GPU, in one command, within 8 minutes.

    python benchmarks/gpu.py --out results.json      # one CUDA GPU, ViT-B/16 architecture, random weights
    python benchmarks/gpu.py --smoke --out smoke.json  # the same code on the CPU at tiny size (CI)

Sections (each a key of the JSON file; a section that would overrun `--budget-s` is recorded as skipped):

- `steps`: median training step (ms) of the CoOp and CPT presets under Lightning at K = 100 and 1,000
  classes, in bf16-mixed and fp32 (`32-true`; TF32 stays off, PyTorch's default).
- `text_tower`: one forward + backward of the prompted text features of K classes: prompts per second,
  FLOPs counted by `torch.utils.flop_counter.FlopCounterMode`, achieved TFLOP/s and the model FLOP
  utilisation against the device's dense peak (`PEAK_TFLOPS`, by device name; null where unknown).
- `lightning_vs_plain`: `CPTModule` (CoOp preset) under Lightning vs a plain PyTorch loop, interleaved
  repeats, median of per-repeat ratios.
- `feature_cache_epoch`: one CoOp epoch reading pixels vs reading cached features.
- `timeline`: set-up / train / eval seconds of one base-to-new `fit` and `test` as `cpt` runs them
  (the CLI in this process, the evaluation feature cache on, as the shipped configs have it).

Every step time is taken between batch starts with `torch.cuda.synchronize()` before each stamp.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import yaml
from lightning.pytorch import Callback
from transformers import CLIPConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import imagenet_classnames, machine_line, save_clip  # noqa: E402
from _timing import fixed_batch_loader, step_times, timed_fit  # noqa: E402
from feature_cache_speedup import one_epoch  # noqa: E402
from lightning_overhead import plain_loop  # noqa: E402
from nc_term_cost import MAX_CLUSTER_SIZE, preset_loss_terms  # noqa: E402
from step_share import StepShare  # noqa: E402

from cpt_lightning.callbacks import ClusterAssignmentCallback  # noqa: E402
from cpt_lightning.data.feature_cache import FeatureCacheConfig  # noqa: E402
from cpt_lightning.data.generated import GeneratedDataModule  # noqa: E402
from cpt_lightning.models import CPTModule  # noqa: E402
from cpt_lightning.process_cache import process_cache  # noqa: E402

# Dense (no sparsity) peak TFLOP/s from the vendors' data sheets: bf16 on tensor cores, fp32 without TF32.
# Matched by substring of `torch.cuda.get_device_name()`, first match wins (H100 PCIe before H100 SXM).
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989.0, "fp32": 67.0}),
    ("H100 PCIe", {"bf16": 756.0, "fp32": 51.0}),
    ("H100", {"bf16": 989.0, "fp32": 67.0}),
    ("A100", {"bf16": 312.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.0, "fp32": 91.6}),
    ("A10", {"bf16": 125.0, "fp32": 31.2}),
    ("L4", {"bf16": 121.0, "fp32": 30.3}),
]
PRECISIONS = {"bf16-mixed": "bf16", "32-true": "fp32"}

FULL = dict(size="b16", classes=(100, 1000), batch=32, steps=10, warmup=3, text_repeats=5, overhead_repeats=5,
            overhead_steps=20, cache_classes=50, cache_shots=16, timeline_classes=100, timeline_shots=4)  # fmt: skip
SMOKE = dict(size="small", classes=(10, 40), batch=8, steps=3, warmup=1, text_repeats=2, overhead_repeats=2,
             overhead_steps=3, cache_classes=4, cache_shots=4, timeline_classes=6, timeline_shots=2)  # fmt: skip


def peak_tflops(device_name: str) -> dict[str, float] | None:
    """The device's dense peaks by precision, or None for a device not in `PEAK_TFLOPS` (and the CPU)."""
    for key, peaks in PEAK_TFLOPS:
        if key in device_name:
            return peaks
    return None


class Synchronize(Callback):
    """Waits for the GPU at each batch start, so a step's stamp includes its queued kernels."""

    def on_train_batch_start(self, *_args) -> None:
        torch.cuda.synchronize()


def autocast(device: str, precision: str):
    if precision == "bf16-mixed":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Bench:
    """The configured sizes, the CLIP on disk, the device, and a budget shared by all sections."""

    def __init__(self, smoke: bool, budget_s: float) -> None:
        self.cfg = SMOKE if smoke else FULL
        self.cuda = torch.cuda.is_available() and not smoke
        if not smoke and not torch.cuda.is_available():
            sys.exit("benchmarks/gpu.py needs a CUDA GPU (or --smoke, which runs the same code on the CPU).")
        self.device = "cuda" if self.cuda else "cpu"
        self.accelerator = "gpu" if self.cuda else "cpu"
        self.clip = str(save_clip(self.cfg["size"]))
        self.work = Path(tempfile.mkdtemp(prefix="gpu_bench_"))
        self.deadline = time.perf_counter() + budget_s
        self.sync = torch.cuda.synchronize if self.cuda else None

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def module(self, method: str, classes: int) -> CPTModule:
        names = imagenet_classnames(classes)
        return CPTModule(names, clip_name_or_path=self.clip, loss_terms=preset_loss_terms(method))

    def image_size(self, module: CPTModule) -> int:
        return module.clip.config.vision_config.image_size

    def fit_step_ms(self, module: CPTModule, method: str, precision: str, steps: int, warmup: int) -> float:
        loader = fixed_batch_loader(self.cfg["batch"], self.image_size(module), len(module.classnames), steps + 2)
        callbacks = [Synchronize()] if self.cuda else []
        if method == "cpt":
            callbacks.append(ClusterAssignmentCallback(max_cluster_size=MAX_CLUSTER_SIZE))
        starts = timed_fit(module, loader, steps, self.work, callbacks=callbacks, accelerator=self.accelerator,
                           precision=precision)  # fmt: skip
        return 1e3 * step_times(starts, warmup)[0]


def section_steps(bench: Bench) -> dict:
    cfg, results = bench.cfg, {}
    for classes in cfg["classes"]:
        for precision in PRECISIONS:
            for method in ("coop", "cpt"):
                module = bench.module(method, classes)
                results[f"{method}/K={classes}/{precision}"] = round(
                    bench.fit_step_ms(module, method, precision, cfg["warmup"] + cfg["steps"], cfg["warmup"]), 3
                )
            coop, cpt = (results[f"{m}/K={classes}/{precision}"] for m in ("coop", "cpt"))
            results[f"cpt_over_coop/K={classes}/{precision}"] = round(cpt / coop, 4)
    return {"median_step_ms": results, "batch": cfg["batch"], "timed_steps": cfg["steps"]}


def section_text_tower(bench: Bench) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    device_name = torch.cuda.get_device_name() if bench.cuda else "cpu"
    peaks = peak_tflops(device_name) if bench.cuda else None
    results = {}
    for classes in bench.cfg["classes"]:
        module = bench.module("coop", classes).to(bench.device)
        for precision, short in PRECISIONS.items():

            def forward_backward(module=module, precision=precision):
                with autocast(bench.device, precision):
                    features = module.prompted_text_features()
                features.float().square().sum().backward()

            with FlopCounterMode(display=False) as counter:
                forward_backward()
            flops = counter.get_total_flops()
            times = []
            for _ in range(bench.cfg["text_repeats"]):
                if bench.sync:
                    bench.sync()
                start = time.perf_counter()
                forward_backward()
                if bench.sync:
                    bench.sync()
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            achieved = flops / seconds / 1e12
            peak = peaks[short] if peaks else None
            results[f"K={classes}/{precision}"] = {
                "seconds": round(seconds, 5),
                "prompts_per_s": round(classes / seconds, 1),
                "flops": flops,
                "achieved_tflops": round(achieved, 3),
                "peak_tflops": peak,
                "mfu": round(achieved / peak, 4) if peak else None,
            }
    return {"device": device_name, "per_setting": results}


def section_lightning_vs_plain(bench: Bench) -> dict:
    cfg = bench.cfg
    classes, precision = cfg["classes"][0], "bf16-mixed" if bench.cuda else "32-true"
    module = bench.module("coop", classes)
    steps = cfg["warmup"] + cfg["overhead_steps"]
    loader = fixed_batch_loader(cfg["batch"], bench.image_size(module), classes, steps + 2)
    plain, lightning = [], []
    for _ in range(cfg["overhead_repeats"]):
        with autocast(bench.device, precision):
            starts = plain_loop(module, loader, steps, bench.device, bench.sync)
        plain.append(1e3 * step_times(starts, cfg["warmup"])[0])
        lightning.append(bench.fit_step_ms(module, "coop", precision, steps, cfg["warmup"]))
    ratios = [b / a for a, b in zip(plain, lightning, strict=True)]
    return {"classes": classes, "precision": precision, "plain_ms": plain, "lightning_ms": lightning,
            "ratio_median": round(statistics.median(ratios), 4), "ratios": [round(r, 4) for r in ratios]}  # fmt: skip


def section_feature_cache_epoch(bench: Bench) -> dict:
    cfg = bench.cfg
    classnames = imagenet_classnames(cfg["cache_classes"])
    module = CPTModule(classnames, clip_name_or_path=bench.clip)
    size = bench.image_size(module)
    cache = FeatureCacheConfig(str(bench.work / "features"))

    def data(feature_cache):
        return GeneratedDataModule(classnames, train_per_class=cfg["cache_shots"], image_size=size,
                                   batch_size=cfg["batch"], feature_cache=feature_cache)  # fmt: skip

    pixels = one_epoch(module, data(None), bench.work, bench.accelerator)
    build = one_epoch(module, data(cache), bench.work, bench.accelerator)
    cached = one_epoch(module, data(cache), bench.work, bench.accelerator)
    pixel_s, cached_s = pixels.seconds("epoch_start", "epoch_end"), cached.seconds("epoch_start", "epoch_end")
    return {"images": len(classnames) * cfg["cache_shots"], "pixels_epoch_s": round(pixel_s, 3),
            "cached_epoch_s": round(cached_s, 3), "speedup": round(pixel_s / cached_s, 2),
            "cache_build_s": round(build.seconds("fit_start", "train_start"), 3)}  # fmt: skip


def section_timeline(bench: Bench) -> dict:
    from cpt_lightning.cli import main as cpt

    cfg = bench.cfg
    size = CLIPConfig.from_pretrained(bench.clip).vision_config.image_size
    cache = {"directory": str(bench.work / "timeline_features"), "splits": "eval"}
    config = {
        "trainer": {"accelerator": bench.accelerator, "devices": 1, "max_epochs": 2, "logger": False,
                    "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
                    "num_sanity_val_steps": 0, "precision": "bf16-mixed" if bench.cuda else "32-true",
                    "default_root_dir": str(bench.work / "timeline"),
                    "callbacks": [{"class_path": "step_share.StepShare"}]},
        "model": {"clip_name_or_path": bench.clip},
        "data": {"class_path": "cpt_lightning.data.generated.GeneratedDataModule",
                 "init_args": {"classnames": imagenet_classnames(cfg["timeline_classes"]), "subsample": "base_to_new",
                               "train_per_class": cfg["timeline_shots"], "eval_per_class": cfg["timeline_shots"],
                               "batch_size": cfg["batch"], "image_size": size, "feature_cache": cache}},
    }  # fmt: skip
    path = bench.work / "timeline.yaml"
    path.write_text(yaml.safe_dump(config))
    StepShare.totals.clear()
    start = time.perf_counter()
    method = Path(__file__).resolve().parents[1] / "configs" / "methods" / "cpt.yaml"
    cli = cpt(["--config", str(path), "--config", str(method)], run=False)
    setup_s = time.perf_counter() - start
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    fit_s = time.perf_counter() - start
    fit_steps = dict(StepShare.totals)
    start = time.perf_counter()
    cli.trainer.test(cli.model, datamodule=cli.datamodule)
    test_s = time.perf_counter() - start
    test_eval = StepShare.totals["eval"] - fit_steps.get("eval", 0.0)
    return {"cli_setup_s": round(setup_s, 3), "fit_s": round(fit_s, 3),
            "fit_train_steps_s": round(fit_steps.get("train", 0.0), 3),
            "fit_val_steps_s": round(fit_steps.get("eval", 0.0), 3), "test_s": round(test_s, 3),
            "test_steps_s": round(test_eval, 3)}  # fmt: skip


SECTIONS = {
    "steps": section_steps,
    "text_tower": section_text_tower,
    "lightning_vs_plain": section_lightning_vs_plain,
    "feature_cache_epoch": section_feature_cache_epoch,
    "timeline": section_timeline,
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results.json"))
    parser.add_argument("--smoke", action="store_true", help="tiny CLIP on the CPU (CI): same code, small sizes")
    parser.add_argument("--budget-s", type=float, default=450.0, help="skip sections that start after this")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # Lightning's num_workers / logging hints are noise here
    bench = Bench(args.smoke, args.budget_s)
    results: dict = {"machine": machine_line(), "smoke": args.smoke, "size": bench.cfg["size"], "sections": {}}
    with process_cache():  # the CLIP is read from disk once, not by every section's modules
        for name in args.sections:
            if bench.left() <= 0:
                results["sections"][name] = {"skipped": f"over the {args.budget_s:.0f} s budget"}
                continue
            start = time.perf_counter()
            section = SECTIONS[name](bench)
            results["sections"][name] = {**section, "section_s": round(time.perf_counter() - start, 2)}
            print(f"{name}: {json.dumps(results['sections'][name])}", flush=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
