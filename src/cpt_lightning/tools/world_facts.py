"""A world's facts for the study report: K, D, clusters per S and the hierarchy they follow, from t0.

`hierarchy_margin` is the mean cosine between the frozen prototypes of two classes in the same
cluster minus that of two classes in different clusters: how much semantic structure the clusters
capture (a global ETF drives it towards 0, since every pair then has the same cosine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.assign import assign_clusters

CLUSTER_SIZES = (4, 8, 16, 32)


def hierarchy_margin(features: torch.Tensor, cluster_ids: torch.Tensor) -> float:
    """Mean cosine of same-cluster pairs minus that of different-cluster pairs (distinct classes)."""
    units = F.normalize(features.double(), dim=-1)
    cosines = units @ units.T
    same = cluster_ids.view(-1, 1) == cluster_ids.view(1, -1)
    distinct = ~torch.eye(len(cluster_ids), dtype=torch.bool)
    within, between = cosines[same & distinct], cosines[~same]
    if within.numel() == 0 or between.numel() == 0:
        return float("nan")
    return float(within.mean() - between.mean())


def effective_rank(features: torch.Tensor) -> float:
    """Roy and Vetterli's effective rank of the prototypes' Gram: exp of the entropy of its normalised
    eigenvalues (K for orthonormal prototypes, 1 for identical ones)."""
    units = F.normalize(features.double(), dim=-1)
    eigenvalues = torch.linalg.eigvalsh(units @ units.T).clamp_min(0)
    p = eigenvalues / eigenvalues.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def cluster_facts(features: torch.Tensor, sizes: Sequence[int] = CLUSTER_SIZES, seed: int = 0) -> list[dict[str, Any]]:
    """Per S: the number of cosine clusters of the prototypes, the largest, and the hierarchy margin."""
    rows = []
    for size in sizes:
        ids = assign_clusters(features, size, "cosine", seed)
        counts = torch.bincount(ids)
        rows.append(
            {"S": size, "clusters": int((counts > 0).sum()), "largest": int(counts.max()),
             "margin": hierarchy_margin(features, ids)}
        )  # fmt: skip
    return rows


def dataset_facts(run_config: str) -> dict[str, Any]:
    """K (base, new), D and the cluster facts of one dataset's frozen base prototypes, from its run config."""
    from cpt_lightning.cli import main

    cli = main(["--config", run_config, "--trainer.logger=false"], run=False)
    base = list(cli.datamodule.classnames)
    new = list(getattr(cli.datamodule, "eval_classnames", {}).get("new", []))
    features = cli.model.zero_shot_text_features(base)
    return {
        "base_classes": len(base),
        "new_classes": len(new),
        "dim": int(features.shape[1]),
        "effective_rank": effective_rank(features),
        "clusters": cluster_facts(features),
    }


def _margin(value: float) -> str:
    return "n/a (one cluster)" if value != value else f"{value:+.3f}"


def facts_lines(facts: dict[str, dict[str, Any]], zero_shot: dict[str, dict[str, float]]) -> list[str]:
    """Markdown: per dataset K, D, the Gram's effective rank, clusters and margin per S, zero-shot accuracy.

    `zero_shot[dataset]` holds the zero-shot runs' mean `base` / `new` / `HM` (percent, tau=1)."""
    sizes = sorted({row["S"] for fact in facts.values() for row in fact["clusters"]})
    header = ["dataset", "K base", "K new", "D", "eff. rank t0"]
    header += [f"S={s}: clusters (largest), margin" for s in sizes]
    header += ["zero-shot base", "zero-shot new", "new / chance"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, fact in facts.items():
        by_size = {row["S"]: row for row in fact["clusters"]}
        cells = [name, str(fact["base_classes"]), str(fact["new_classes"]), str(fact["dim"])]
        cells.append(f"{fact['effective_rank']:.1f}")
        cells += [f"{by_size[s]['clusters']} ({by_size[s]['largest']}), {_margin(by_size[s]['margin'])}" for s in sizes]
        scores = zero_shot.get(name, {})
        chance = 100.0 / fact["new_classes"] if fact["new_classes"] else float("nan")
        cells += [f"{scores['base']:.2f}" if "base" in scores else "not run"]
        cells += [f"{scores['new']:.2f}" if "new" in scores else "not run"]
        cells += [f"{scores['new'] / chance:.1f}x" if "new" in scores else "not run"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
