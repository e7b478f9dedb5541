"""The semantic hierarchy after training: does a method keep the frozen prototypes' cluster structure?

For every finished trained run with its `prompts.ckpt` (the reproduce runner saves it), the tuned
prototypes of the training classes are compared with the frozen ones under the run's own cluster
assignment (stored in the checkpoint): the hierarchy margin (`world_facts.hierarchy_margin`) and the
effective rank of the prototype Gram (`world_facts.effective_rank`). A global ETF pushes every pair of
prototypes to the same cosine, so it drives the margin towards 0; a cluster-local one should not.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from cpt_lightning.reproduce.paired import Scores
from cpt_lightning.reproduce.runs import RESULTS_FILE
from cpt_lightning.tools.world_facts import effective_rank, hierarchy_margin

CHECKPOINT = "prompts.ckpt"
GEOMETRY_COLUMNS = ("margin", "margin_frozen", "erank", "erank_frozen")


@torch.no_grad()
def checkpoint_geometry(checkpoint: Path) -> dict[str, float]:
    """Margin and effective rank of the tuned and the frozen prototypes of one run's training classes."""
    from cpt_lightning.models.cpt_module import CPTModule

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found keys that are")  # a checkpoint holds no frozen CLIP
        module = CPTModule.load_from_checkpoint(checkpoint, map_location="cpu")
    module.eval()
    if module.cluster_ids.numel() != len(module.classnames):
        raise ValueError(f"{checkpoint} holds no cluster assignment for its classes; it was not saved after a fit.")
    tuned, frozen = module.prompted_text_features(), module.zero_shot_text_features()
    return {
        "margin": hierarchy_margin(tuned, module.cluster_ids),
        "margin_frozen": hierarchy_margin(frozen, module.cluster_ids),
        "erank": effective_rank(tuned),
        "erank_frozen": effective_rank(frozen),
    }


def study_geometry(study_dir: Path) -> Scores:
    """`checkpoint_geometry` of every finished trained run under `study_dir`, keyed like `per_run_scores`."""
    scores: Scores = {}
    for path in sorted(study_dir.rglob(RESULTS_FILE)):
        spec = json.loads(path.read_text())["spec"]
        checkpoint = path.parent / CHECKPOINT
        if spec["fit"] and checkpoint.is_file():
            key = (spec["setting"], spec["dataset"], spec["method"])
            scores.setdefault(key, {})[spec["seed"]] = checkpoint_geometry(checkpoint)
    return scores


def geometry_lines(scores: Scores) -> list[str]:
    """Markdown: per setting and method, mean +- std over runs of the tuned and frozen margin and rank."""
    lines = ["| setting | method | runs | margin tuned | margin frozen | eff. rank tuned | eff. rank frozen |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    groups: dict[tuple[str, str], list[dict[str, float]]] = {}
    for (setting, _, method), by_seed in scores.items():
        groups.setdefault((setting, method), []).extend(by_seed.values())
    for (setting, method), runs in sorted(groups.items()):
        cells = []
        for column in GEOMETRY_COLUMNS:
            values = torch.tensor([run[column] for run in runs], dtype=torch.float64)
            spread = float(values.std()) if len(values) > 1 else float("nan")
            cells.append(f"{float(values.mean()):.3f} ± {spread:.3f}")
        lines.append(f"| {setting} | {method} | {len(runs)} | " + " | ".join(cells) + " |")
    return lines
