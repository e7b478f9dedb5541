"""Measure the hierarchical world's facts on a CLIP and write them as markdown (docs/world2.md).

    python -m cpt_lightning.tools.world2_facts --out docs/world2.md

What it measures, all on the frozen CLIP (no training):
- K, K_base, the projection dimension D, and whether K_base > D + 1 (no global simplex fits);
- cosine clustering (`cpt_lightning.clustering.assign_clusters`) of the base classes' frozen
  prototypes at S in {4, 8, 16, 32}: cluster counts, how pure the clusters are in colour family,
  shape family and family pair, and the hierarchy margin (mean cosine within a cluster minus
  between clusters), beside the same margin for the true families, and how many clusters hold
  >= 75% of one colour family;
- the same clustering at S = 16 when the prompts name the shade alone ("navy pentagon" instead of
  the shipped "bluish navy pentagon"): why the class names carry the family;
- where new classes fall: the share of new classes whose nearest base-cluster centroid is a
  cluster holding a base class of the same colour or shape family;
- zero-shot top-1 on base and new classes of every dataset, on fresh renders;
- the seed spread of the tail third: zero-shot accuracy of the tail third of base classes at
  tau = 0.06 over sampling seeds (which classes are tail changes with the seed).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, CLIPModel

from cpt_lightning.clustering import assign_clusters
from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.tools.world_facts import hierarchy_margin
from cpt_lightning.tools.world_zero_shot import DEFAULT_TEMPLATE, image_features, pixel_values, text_features
from cpt_lightning.world.hier.attributes import COLOURS, FAMILY_SIZE, SHAPES
from cpt_lightning.world.hier.captions import describe_hier
from cpt_lightning.world.hier.checkpoint import world2_clip_path
from cpt_lightning.world.hier.datasets import HierWorldDataset, hier_dataset_names

CLUSTER_SIZES = (4, 8, 16, 32)
# Groupings of classes the clusters may follow: the hue families, the tone (a shade's place in its
# family: vivid, dark, light, muted; a cross-cutting grouping of shades), the shape families, and pairs.
HIERARCHY_LEVELS = ("colour family", "tone", "shape family", "family pair")
# A cluster "follows" a family when at least this share of its classes belong to it.
HELD_SHARE = 0.75


@dataclass(frozen=True)
class ClusterFacts:
    """Cosine clustering of base-class prototypes at one maximum cluster size S."""

    max_cluster_size: int
    clusters: int
    purity: dict[str, float]  # share of classes in their cluster's majority family, per level
    margin: float  # mean within-cluster cosine minus mean between-cluster cosine
    colour_family_held: int  # clusters with >= HELD_SHARE of their classes in one colour family


def load_clip(path: str | Path | None = None) -> tuple[CLIPModel, object, ImageSettings]:
    """The CLIP at `path` (default: the shipped world2 CLIP), its tokenizer and image settings."""
    path = Path(path or world2_clip_path())
    model = CLIPModel.from_pretrained(path).eval()
    settings = ImageSettings.from_preprocessor_dict(json.loads((path / "preprocessor_config.json").read_text()))
    return model, AutoTokenizer.from_pretrained(path), settings


def family_labels(class_codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per class, its label at each level of `HIERARCHY_LEVELS`."""
    colour_family, shape_family = class_codes[:, 0], class_codes[:, 2]
    return {
        "colour family": colour_family,
        "tone": class_codes[:, 1] % FAMILY_SIZE,
        "shape family": shape_family,
        "family pair": colour_family * FAMILY_SIZE + shape_family,
    }


def cosine_margin(features: np.ndarray, groups: np.ndarray) -> float:
    """The study report's `hierarchy_margin` (same-group minus different-group mean cosine) on numpy inputs."""
    return hierarchy_margin(torch.from_numpy(np.asarray(features)), torch.from_numpy(np.asarray(groups)))


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Share of classes whose label is their cluster's most common label."""
    agreeing = sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters))
    return float(agreeing / len(labels))


def cluster_facts(
    prototypes: np.ndarray, class_codes: np.ndarray, max_cluster_size: int, seed: int = 0
) -> ClusterFacts:
    """Cluster `prototypes` [K, D] with the library's cosine clustering and measure the result."""
    clusters = assign_clusters(prototypes, max_cluster_size=max_cluster_size, method="cosine", seed=seed).numpy()
    levels = family_labels(class_codes)
    return ClusterFacts(
        max_cluster_size=max_cluster_size,
        clusters=int(clusters.max() + 1),
        purity={level: purity(clusters, labels) for level, labels in levels.items()},
        margin=cosine_margin(prototypes, clusters),
        colour_family_held=clusters_held(clusters, levels["colour family"]),
    )


def clusters_held(clusters: np.ndarray, labels: np.ndarray) -> int:
    """How many clusters have at least `HELD_SHARE` of their classes under one label."""
    return sum(
        int(np.bincount(labels[clusters == c]).max() >= HELD_SHARE * np.sum(clusters == c)) for c in np.unique(clusters)
    )


def shade_only_names(class_codes: np.ndarray) -> list[str]:
    """The classes' names without their colour family word ("navy pentagon")."""
    return [describe_hier(COLOURS[colour], SHAPES[shape]) for _, colour, _, shape in class_codes.tolist()]


def random_clusters(features: np.ndarray, max_cluster_size: int) -> np.ndarray:
    """The cosine clusters' sizes with classes dealt at random (seed 0): the chance baseline."""
    clusters = assign_clusters(features, max_cluster_size=max_cluster_size, method="cosine", seed=0).numpy()
    return np.random.default_rng(0).permutation(clusters)


def new_class_placement(base: np.ndarray, new: np.ndarray, base_codes: np.ndarray, new_codes: np.ndarray) -> float:
    """Share of new classes whose nearest base-cluster centroid (S = 16) holds a base class of its colour
    family or its shape family."""
    clusters = assign_clusters(base, max_cluster_size=16, method="cosine", seed=0).numpy()
    centroids = np.stack([base[clusters == c].mean(axis=0) for c in range(clusters.max() + 1)])
    nearest = (new @ centroids.T).argmax(axis=1)
    hits = 0
    for k, cluster in enumerate(nearest):
        members = base_codes[clusters == cluster]
        hits += bool(np.any(members[:, 0] == new_codes[k, 0]) or np.any(members[:, 2] == new_codes[k, 2]))
    return hits / len(new)


def prototypes(model: CLIPModel, tokenizer, classnames: list[str]) -> np.ndarray:
    """Frozen zero-shot prototypes "a photo of a {class}." [K, D], L2-normalised."""
    return text_features(model, tokenizer, [DEFAULT_TEMPLATE.format(name) for name in classnames]).numpy()


def test_predictions(model, tokenizer, settings, dataset: HierWorldDataset, counts, seed: int):
    """Fresh test renders (`counts` per class: one int or one per class), classified zero-shot among base
    classes and among new classes.

    Returns `{half: (labels within the half, predictions within the half)}` for "base" and "new" (a half
    without images is left out).
    """
    images, labels = dataset.render_split("test", counts, seed)
    features = image_features(model, pixel_values(images, settings))
    results = {}
    for half, classes in zip(("base", "new"), base_new_split(len(dataset.classnames)), strict=True):
        mask = np.isin(labels, classes)
        if not mask.any():
            continue
        classifier = torch.from_numpy(prototypes(model, tokenizer, [dataset.classnames[k] for k in classes]))
        results[half] = (labels[mask] - classes[0], (features[mask] @ classifier.T).argmax(dim=1).numpy())
    return results


def zero_shot(model, tokenizer, settings, dataset: HierWorldDataset, counts, seed: int) -> dict[str, float]:
    """Top-1 of zero-shot classification among base classes and among new classes, on fresh test renders."""
    predictions = test_predictions(model, tokenizer, settings, dataset, counts, seed)
    return {half: float(np.mean(predicted == labels)) for half, (labels, predicted) in predictions.items()}


def tail_third_accuracies(
    dataset_name: str, labels: np.ndarray, predicted: np.ndarray, seeds: list[int]
) -> list[float]:
    """Zero-shot top-1 of the tail third of base classes at tau = 0.06, one value per sampling seed
    (which classes are tail depends on the seed); `labels`, `predicted` are base-class test results."""
    from cpt_lightning.data.world2 import HierWorldDataModule

    values = []
    for sampling_seed in seeds:
        module = HierWorldDataModule(dataset_name, seed=sampling_seed, tau=0.06)
        tail = [k for k, group in enumerate(module.class_groups) if group == "tail"]
        mask = np.isin(labels, tail)
        values.append(float(np.mean(predicted[mask] == labels[mask])))
    return values


def facts_markdown(model_dir: str | None = None, per_class: int = 20, seed: int = 12345) -> str:
    """The whole report as markdown."""
    model, tokenizer, settings = load_clip(model_dir)
    dataset = HierWorldDataset(hier_dataset_names()[0])  # every dataset has the same classes
    base, new = base_new_split(len(dataset.classnames))
    base_protos = prototypes(model, tokenizer, [dataset.classnames[k] for k in base])
    new_protos = prototypes(model, tokenizer, [dataset.classnames[k] for k in new])
    base_codes, new_codes = dataset.class_codes[base], dataset.class_codes[new]
    dim = base_protos.shape[1]
    lines = [
        "# The hierarchical world (world2): measured facts",
        "",
        f"Generated by `python -m cpt_lightning.tools.world2_facts --per-class {per_class} --seed {seed} --out "
        "docs/world2.md` on the shipped CLIP (`builtin:world2_clip`); the design is in `docs/world.md`.",
        "",
        f"- K = {len(dataset.classnames)} classes per dataset ({len(base)} base, {len(new)} new), "
        f"projection dimension D = {dim}; K_base = {len(base)} {'>' if len(base) > dim + 1 else '<='} "
        f"D + 1 = {dim + 1}, "
        "so the base prototypes cannot form one global simplex ETF.",
        "- Hierarchy: 4 colour families x 4 shades (each shade also has a tone: vivid, dark, light, muted), "
        "4 shape families x 4 shapes (two levels each); every family "
        "pair holds "
        f"{int(np.sum((base_codes[:, 0] == 0) & (base_codes[:, 2] == 0)))} base and "
        f"{int(np.sum((new_codes[:, 0] == 0) & (new_codes[:, 2] == 0)))} new classes.",
        "",
        'Cosine clustering of the frozen base prototypes ("a photo of a {class}."), '
        "`assign_clusters(method='cosine', seed=0)`:",
        "",
        "| S | clusters | clusters >= 75% one colour family | purity: colour family | purity: tone "
        "| purity: shape family | purity: family pair | margin (within - between) "
        "| margin of random clusters, same sizes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in CLUSTER_SIZES:
        facts = cluster_facts(base_protos, base_codes, size)
        purities = " | ".join(f"{facts.purity[level]:.2f}" for level in HIERARCHY_LEVELS)
        random_margin = cosine_margin(base_protos, random_clusters(base_protos, size))
        lines.append(
            f"| {size} | {facts.clusters} | {facts.colour_family_held} | {purities} | {facts.margin:.3f} "
            f"| {random_margin:.3f} |"
        )
    levels = family_labels(base_codes)
    true_margins = ", ".join(f"{level} {cosine_margin(base_protos, labels):.3f}" for level, labels in levels.items())
    placement = new_class_placement(base_protos, new_protos, base_codes, new_codes)
    shade_only = cluster_facts(prototypes(model, tokenizer, shade_only_names(base_codes)), base_codes, 16)
    lines += [
        "",
        'Class names: with the shade alone in the prompt ("a photo of a navy pentagon.") the same clustering '
        f"at S = 16 gives {shade_only.clusters} clusters, {shade_only.colour_family_held} of them >= 75% one "
        "colour family; purity: "
        + ", ".join(f"{level} {shade_only.purity[level]:.2f}" for level in HIERARCHY_LEVELS)
        + ". The captions the CLIP was pretrained on name a shade or its family, not both.",
        "",
        f"Margin of the true families (base prototypes): {true_margins}.",
        f"New classes whose nearest base cluster (S = 16) holds a base class of their colour or shape family: "
        f"{100 * placement:.1f}%.",
        "",
        f'Zero-shot top-1 (%), "a photo of a {{class}}.", {per_class} fresh test images per class, render seed '
        f"{seed}; chance is {100 / len(base):.2f}% on each half:",
        "",
        "| dataset | style | severity | base | new | new / chance |",
        "|---|---|---|---|---|---|",
    ]
    seeds = list(range(1, 11))
    tail_lines = [
        "",
        "Zero-shot top-1 (%) of the tail third of base classes at tau = 0.06 (attribute popularity), over "
        "sampling seeds 1-10 (the seed decides which classes are tail), on the same test images:",
        "",
        "| dataset | tail classes | mean | std | min | max |",
        "|---|---|---|---|---|---|",
    ]
    tail_classes = len(np.array_split(np.arange(len(base)), 3)[2])
    for name in hier_dataset_names():
        data = HierWorldDataset(name)
        predictions = test_predictions(model, tokenizer, settings, data, per_class, seed)
        accuracy = {half: float(np.mean(p == y)) for half, (y, p) in predictions.items()}
        low, high = data.spec.severity_range
        lines.append(
            f"| {name} | {data.spec.style} | {low}-{high} | {100 * accuracy['base']:.1f} | {100 * accuracy['new']:.1f} "
            f"| {accuracy['new'] * len(new):.0f}x |"
        )
        values = 100 * np.array(tail_third_accuracies(name, *predictions["base"], seeds))
        tail_lines.append(
            f"| {name} | {tail_classes} | {values.mean():.1f} | {values.std(ddof=1):.1f} "
            f"| {values.min():.1f} | {values.max():.1f} |"
        )
    lines += tail_lines
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure the hierarchical world's facts on a CLIP.")
    parser.add_argument("--model", default=None, help="a save_pretrained folder (default: the shipped world2 CLIP)")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12345, help="render seed (never a pretraining seed path)")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown here (default: print it)")
    args = parser.parse_args(argv)
    text = facts_markdown(args.model, args.per_class, args.seed)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
