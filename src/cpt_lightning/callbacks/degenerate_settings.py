"""Settings under which a method silently becomes another one, named in a single warning at fit start."""

from __future__ import annotations

import torch

from cpt_lightning.losses import LossCollection


def degenerate_settings(loss: LossCollection, cluster_ids: torch.Tensor, max_cluster_size: int) -> list[str]:
    """What is degenerate about this objective and cluster assignment, each with its consequence.

    A term of weight 0 is skipped; cluster-aware terms need clusters of two or more classes
    (singletons leave them nothing to act on, so the objective reduces to its other terms);
    `max_cluster_size >= K` allows one cluster of every class, where a cluster-local term is
    its global counterpart.
    """
    problems = [
        f"loss term {name!r} has weight 0, so it is skipped and the run trains without it "
        "(remove it from `model.loss_terms` or give it a positive weight)"
        for name, term in loss.terms.items()
        if term.weight == 0
    ]
    cluster_terms = [name for name, term in loss.terms.items() if term.needs_clusters and term.weight > 0]
    num_classes = int(cluster_ids.numel())
    if not cluster_terms or num_classes < 2:
        return problems
    sizes = torch.bincount(cluster_ids.cpu())
    sizes = sizes[sizes > 0]
    others = [name for name, term in loss.terms.items() if term.weight > 0 and name not in cluster_terms]
    if bool((sizes == 1).all()):
        problems.append(
            f"every one of the {num_classes} classes is its own cluster (clusters.max_cluster_size="
            f"{max_cluster_size}), so the cluster-aware terms {cluster_terms} have nothing to act on and log 0: "
            f"the run trains {others or 'nothing'} only (CoOp when that is cross-entropy). Use "
            "clusters.max_cluster_size >= 2"
        )
    if max_cluster_size >= num_classes:
        problems.append(
            f"clusters.max_cluster_size={max_cluster_size} >= {num_classes} training classes allows one cluster "
            f"of all classes ({len(sizes)} formed), where the cluster-local terms {cluster_terms} act globally "
            f"(NPT-like, not CPT). Use clusters.max_cluster_size < {num_classes}"
        )
    return problems


def describe_degenerate(problems: list[str]) -> str:
    return "Degenerate settings: " + "; ".join(problems) + "."
