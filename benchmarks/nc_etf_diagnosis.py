"""Why does the logged loss_etf rise under CPT at weights (1, 1, 1)? Gradient scale, centring, reachability.

    nice -n 10 python benchmarks/nc_etf_diagnosis.py --out outputs/nc-diagnosis [--epochs 10]

Fits the demo world's `sketches` (base-to-new, tau=0.06, seed 1, the shipped world CLIP, AdamW lr 0.01)
with several objectives and, every few steps, measures on the current batch: each term's value and
the norm of its gradient on the prompt parameters (unweighted), the cosine between the CE and ETF
gradients, and the geometry of the prototypes inside each cluster (centred ETF deviation, the mean
centred cosine against the simplex target -1/(n-1), the spread of centred norms). Prints one
Markdown table per objective and writes everything to `<out>/diagnosis.json`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch import Callback

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from cpt_lightning.cli import main as cpt_main  # noqa: E402
from cpt_lightning.clustering.etf import etf_deviation_per_cluster  # noqa: E402
from cpt_lightning.clustering.layout import ClusterLayout  # noqa: E402
from cpt_lightning.losses import LossInputs  # noqa: E402

CE = {"class_path": "cpt_lightning.losses.CrossEntropyTerm"}


def _term(name: str, weight: float, **init_args) -> dict:
    return {"class_path": f"cpt_lightning.losses.{name}", "init_args": {"weight": weight, **init_args}}


def objectives() -> dict[str, list[dict]]:
    """Objectives compared: CPT at (1, 1, 1), CoOp (ETF only measured), ETF alone, and CPT at ETF weight 10."""
    nc = lambda etf: [  # noqa: E731
        _term("EtfSeparationTerm", etf, variant="cluster_centred"),
        _term("ClassConvergenceTerm", 1.0, variant="cluster_local"),
        _term("RotationStabilizationTerm", 1.0, variant="procrustes"),
    ]
    return {
        "cpt (1,1,1)": [CE, *nc(1.0)],
        "coop + etf measured (weight 0)": [CE, _term("EtfSeparationTerm", 1e-12, variant="cluster_centred")],
        "etf alone": [_term("CrossEntropyTerm", 1e-12), _term("EtfSeparationTerm", 1.0, variant="cluster_centred")],
        "cpt, etf weight 10": [CE, *nc(10.0)],
        "cpt (1,1,1), simplex target": [CE, _term("EtfSeparationTerm", 1.0, variant="cluster_simplex"), *nc(1.0)[1:]],
    }


def cluster_geometry(text: torch.Tensor, cluster_ids: torch.Tensor) -> dict[str, float]:
    """Centred ETF deviation; mean centred cosine minus its target; coefficient of variation of centred norms."""
    layout = ClusterLayout.from_ids(cluster_ids)
    grouped = layout.gather(text.float())
    centred = (grouped - layout.grouped_means(grouped).unsqueeze(1)) * layout.slot_mask_as(grouped.dtype)
    units = F.normalize(centred, dim=-1) * layout.slot_mask_as(grouped.dtype)
    cosines = units @ units.transpose(1, 2)
    sizes = layout.sizes_as(text.dtype)
    keep = layout.multi_member_clusters
    mean_cos = (cosines * layout.pair_mask).sum(dim=(1, 2)) / (sizes * (sizes - 1)).clamp_min(1)
    target = -1.0 / (sizes - 1).clamp_min(1)
    slots = layout.slot_mask_as(text.dtype).squeeze(-1)  # [C, S]
    norms = centred.norm(dim=-1)
    norm_mean = norms.sum(1) / sizes
    norm_var = ((norms - norm_mean.unsqueeze(1)).square() * slots).sum(1) / sizes
    return {
        "etf_deviation_centred": float(etf_deviation_per_cluster(text, layout, True).mean()),
        "etf_deviation_uncentred": float(etf_deviation_per_cluster(text, layout, False).mean()),
        "mean_centred_cos_minus_target": float((mean_cos - target)[keep].abs().mean()),
        "centred_norm_cv": float((norm_var.sqrt() / norm_mean)[keep].mean()),
        "centred_norm_mean": float(norm_mean[keep].mean()),
    }


class TermProbe(Callback):
    """Every `every` steps: per-term value and gradient norm on the prompts, and the cluster geometry."""

    def __init__(self, every: int) -> None:
        self.every, self.rows = every, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step % self.every:
            return
        pixel_values, labels = batch
        params = [p for p in module.parameters() if p.requires_grad]
        with torch.enable_grad():
            image = module.encode_images(pixel_values)
            text = module.prompted_text_features()
            inputs = LossInputs(
                logits=module.logits(image, text), labels=labels, image_features=image, text_features=text,
                frozen_text_features=module.frozen_text_features if module.frozen_text_features.numel() else None,
                cluster_ids=module.cluster_ids, clusters=module.cluster_layout, class_counts=None,
            )  # fmt: skip
            grads, row = {}, {"step": trainer.global_step}
            for name, term in module.loss.terms.items():
                probe = copy.deepcopy(term)  # a term's running state (conv's EMA) must not advance twice
                value = probe(inputs)
                parts = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
                grads[name] = torch.cat([g.flatten() for g in parts if g is not None] or [torch.zeros(1)])
                row[f"{name}"] = float(value)
                row[f"grad_{name}"] = float(grads[name].norm())
        if "ce" in grads and "etf" in grads:
            row["cos_grad_ce_etf"] = float(F.cosine_similarity(grads["ce"], grads["etf"], dim=0))
        row.update(cluster_geometry(text.detach(), module.cluster_ids))
        self.rows.append(row)


def run(objective: list[dict], epochs: int, every: int, work: Path) -> list[dict]:
    model_file = work / "model.yaml"
    model_file.write_text(yaml.safe_dump({"loss_terms": objective}))
    args = [
        "--config", str(REPO_ROOT / "configs/world/sketches.yaml"), "--model", str(model_file),
        "--data.init_args.tau=0.06", f"--trainer.max_epochs={epochs}", "--trainer.logger=false",
        "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]", "--trainer.limit_val_batches=0",
        "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={work}",
    ]  # fmt: skip
    cli = cpt_main(args, run=False)
    probe = TermProbe(every)
    cli.trainer.callbacks.append(probe)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return probe.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/nc-diagnosis"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--every", type=int, default=6)
    parser.add_argument("--only", nargs="+", help="only these objectives (names as printed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name, objective in objectives().items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as work:
            results[name] = run(objective, args.epochs, args.every, Path(work))
        rows = results[name]
        keys = [k for k in rows[0] if k != "step"]
        print(f"\n### {name}\n\n| step | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
        for row in rows:
            print(f"| {row['step']} | " + " | ".join(f"{row.get(k, float('nan')):.4g}" for k in keys) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diagnosis.json").write_text(json.dumps(results, indent=2))
    print(f"\nWrote {args.out / 'diagnosis.json'}")


if __name__ == "__main__":
    main()
