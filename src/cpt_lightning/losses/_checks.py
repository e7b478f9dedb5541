"""Early, actionable failures for terms that need more than the batch."""

from __future__ import annotations

import torch

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses.base import LossInputs


def require_clusters(term_name: str, inputs: LossInputs) -> ClusterLayout:
    """Return the layout of the cluster assignment (`inputs.clusters`, else built from `inputs.cluster_ids`),
    or explain how to provide one."""
    if inputs.clusters is not None:
        if inputs.clusters.inverse.numel() != inputs.text_features.shape[0]:
            raise RuntimeError(
                f"Loss term '{term_name}': the cluster layout covers {inputs.clusters.inverse.numel()} classes "
                f"but there are {inputs.text_features.shape[0]} class prototypes; the assignment belongs to "
                "another class list. Recompute it (start a fresh fit) for the current classes."
            )
        return inputs.clusters
    if inputs.cluster_ids is None or inputs.cluster_ids.numel() == 0:
        raise RuntimeError(
            f"Loss term '{term_name}' needs a cluster assignment, but none was set. Add "
            "`cpt_lightning.callbacks.ClusterAssignmentCallback` to `trainer.callbacks`, or pick the "
            "term's variant that needs no clusters."
        )
    if inputs.cluster_ids.numel() != inputs.text_features.shape[0]:
        raise RuntimeError(
            f"Loss term '{term_name}': cluster_ids has {inputs.cluster_ids.numel()} entries but there are "
            f"{inputs.text_features.shape[0]} class prototypes; the assignment belongs to another "
            "class list. Recompute it (start a fresh fit) for the current classes."
        )
    return ClusterLayout.from_ids(inputs.cluster_ids.to(inputs.text_features.device))


def require_frozen_text(term_name: str, inputs: LossInputs) -> torch.Tensor:
    """Return `inputs.frozen_text_features`, or explain how to provide them."""
    if inputs.frozen_text_features is None or inputs.frozen_text_features.numel() == 0:
        raise RuntimeError(
            f"Loss term '{term_name}' needs the frozen zero-shot text features t0, but none were given. "
            "The module fills them at fit start when a term sets `needs_frozen_text`; call it through "
            "`CPTModule` or pass `frozen_text_features` in `LossInputs`."
        )
    return inputs.frozen_text_features


def require_class_counts(term_name: str, inputs: LossInputs) -> torch.Tensor:
    """Return `inputs.class_counts`, or explain how to provide them."""
    counts = inputs.class_counts
    if counts is None or counts.numel() == 0:
        raise RuntimeError(
            f"Loss term '{term_name}' needs the training count of every class, but none were given. "
            "`cpt` links them from the data module's `class_counts`; when building `CPTModule` yourself "
            "pass `class_counts=[...]`, or pass `class_counts` in `LossInputs`."
        )
    if counts.numel() != inputs.logits.shape[-1]:
        raise RuntimeError(
            f"Loss term '{term_name}': class_counts has {counts.numel()} entries for "
            f"{inputs.logits.shape[-1]} classes; give one count per training class."
        )
    return counts
