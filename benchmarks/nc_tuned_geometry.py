"""Does each NC term do what it is for, at the tuned weights? Per-cluster geometry over a world2 fit.

    nice -n 10 python benchmarks/nc_tuned_geometry.py --out outputs/nc-tuned [--dataset night] [--seed 2001]
    python benchmarks/nc_tuned_geometry.py --smoke   # the same code at tiny size (one image per class, one epoch)

Fits the world2 dataset (base-to-new, tau=0.06) once with each tuned preset of configs/tuned/world2/
(CoOp, NPT-like, CPT, CPT + LA, and CPT with each NC term left out), with `NCGeometryTrace` on, and
prints, per method, the mean over clusters (S = 16, cosine, the same clusters for every method) of
what each NC term targets, at the first step and at the last: the centred intra-cluster ETF
deviation (L_etf's quantity), the distance to the nearest simplex, and the Procrustes residual to the
frozen prototypes (L_rot's), and the validation HM at the end. (NC1 of the image features is not
shown: with a text-only host the image tower is frozen, so NC1 is the same in every run.)
The seed is neither a tuning seed nor a study seed; only training and validation data are read.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import parse_args_with_smoke  # noqa: E402

from cpt_lightning.callbacks.nc_geometry_trace import COLUMNS, TRACE_FILE  # noqa: E402
from cpt_lightning.cli import main as cpt_main  # noqa: E402

PRESETS = ("coop", "npt", "cpt", "cpt_la", "cpt_no_etf", "cpt_no_conv", "cpt_no_rot")
MEASURES = COLUMNS[3:]
SMOKE = {"pool": 1, "epochs": 1, "every": 1, "only": ["coop", "cpt"]}


def trace_means(path: Path) -> dict[int, dict[str, float]]:
    """Step -> the mean over clusters of each measure in an `nc_geometry.tsv`."""
    by_step: dict[int, list[dict[str, str]]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            by_step.setdefault(int(row["step"]), []).append(row)
    return {
        step: {name: statistics.fmean(float(row[name]) for row in rows) for name in MEASURES}
        for step, rows in sorted(by_step.items())
    }


def fit_with_trace(
    preset: str, dataset: str, seed: int, every: int, out: Path, pool: int | None = None, epochs: int | None = None
) -> dict:
    run_dir = out / preset
    sizes = [] if epochs is None else ["--trainer.max_epochs", str(epochs)]
    if pool is not None:  # images per class in every rendered pool, and as many shots
        sizes += [f"--data.init_args.{key}={pool}" for key in ("train_pool_per_class", "val_pool_per_class",
                                                                "test_per_class", "shots")]  # fmt: skip
    cli = cpt_main(
        [
            "fit",
            "--config", str(REPO_ROOT / "configs" / "world2" / f"{dataset}.yaml"),
            "--config", str(REPO_ROOT / "configs" / "tuned" / "world2" / f"{preset}.yaml"),
            "--data.init_args.tau", "0.06", "--seed_everything", str(seed), "--data.init_args.seed", str(seed),
            "--clusters.max_cluster_size", "16", "--clusters.method", "cosine",
            "--trainer.default_root_dir", str(run_dir), "--trainer.enable_progress_bar", "false",
            "--trainer.check_val_every_n_epoch", "1",
            "--trainer.callbacks+=cpt_lightning.callbacks.NCGeometryTrace",
            f"--trainer.callbacks.every_n_steps={every}",
            *sizes,
        ]
    )  # fmt: skip
    trace = trace_means(Path(cli.trainer.log_dir or run_dir) / TRACE_FILE)
    first, last = trace[min(trace)], trace[max(trace)]
    metrics = {key: float(value) for key, value in cli.trainer.callback_metrics.items() if key.startswith("val")}
    return {"first_step": min(trace), "last_step": max(trace), "first": first, "last": last,
            "val_hm": metrics.get("val/hm"), "val_metrics": metrics}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/nc-tuned"))
    parser.add_argument("--dataset", default="night")
    parser.add_argument("--seed", type=int, default=2001)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--only", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--pool", type=int, default=None, help="images per class in each pool (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: each tuned preset's)")
    args = parse_args_with_smoke(parser, SMOKE)
    results = {
        preset: fit_with_trace(preset, args.dataset, args.seed, args.every, args.out, args.pool, args.epochs)
        for preset in args.only
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "geometry.json").write_text(json.dumps(results, indent=2))
    print(f"\n{args.dataset}, tau=0.06, seed {args.seed}; mean over clusters (S=16, cosine), first step -> last step\n")
    print("| method | " + " | ".join(MEASURES) + " | val HM (end) |")
    print("|---|" + "---|" * (len(MEASURES) + 1))
    for preset, result in results.items():
        cells = [f"{result['first'][name]:.4f} -> {result['last'][name]:.4f}" for name in MEASURES]
        print(f"| {preset} | " + " | ".join(cells) + f" | {100 * result['val_hm']:.2f} |")


if __name__ == "__main__":
    main()
