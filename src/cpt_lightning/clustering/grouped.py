"""Class features laid out on a cluster grid once per step, and what the cluster terms derive from them.

The ETF, convergence and rotation terms of one step all start from the same prototypes gathered into
the `[C, S, D]` grid of a `ClusterLayout`, and two of them from the same cluster means. Building that
once per step (`LossInputs.grouped_text`) instead of once per term saves their gathers and means; each
term reads what it needs lazily, so a term that is switched off costs nothing. The terms evaluated
under one autograd node (`clustering/grid_terms.py`) read a copy without a graph (`without_graph`), and
the node takes their gradients back to the classes with `class_gradient`.
"""

from __future__ import annotations

from functools import cached_property

import torch

from cpt_lightning.clustering.layout import ClusterLayout, as_layout


class GroupedFeatures:
    """`[K, D]` class features `source` on `layout`'s grid, computed in at least float32 (`features`).

    `grouped` is `[C, S, D]` with padded slots zero, `means` the per-cluster means `[C, D]`,
    `centred` the grid minus each cluster's mean (padded slots hold `-mean`; mask them before use).
    """

    def __init__(self, features: torch.Tensor, layout: ClusterLayout) -> None:
        self.source = features
        # float64 stays float64, so that the terms' closed-form gradients can be checked in it.
        self.features = features if features.dtype == torch.float64 else features.float()
        self.layout = layout

    def without_graph(self) -> GroupedFeatures:
        """The same grid detached from autograd, for evaluation under one node (`clustering/grid_terms.py`).

        What this view already computed is shared (detached); what the copy computes stays in the copy, so
        a term that later reads this view under autograd still gets tensors with a graph.
        """
        copy = GroupedFeatures.__new__(GroupedFeatures)
        copy.source, copy.features, copy.layout = self.source, self.features.detach(), self.layout
        for name in ("grouped", "_grid_means", "centred"):
            if name in self.__dict__:
                copy.__dict__[name] = self.__dict__[name].detach()
        return copy

    def class_gradient(self, grouped: torch.Tensor | None, centred: torch.Tensor | None) -> torch.Tensor:
        """`[K, D]`: the gradient with respect to the class features of gradients with respect to `grouped` and
        `centred` (each `[C, S, D]`, zero in padded slots, or None).

        Centring subtracts each cluster's mean, so its backward subtracts the mean of the gradient over the
        cluster's slots; the gather's backward reads each class's slot (the padded ones are dropped).
        """
        if centred is not None:
            centred = centred - centred.sum(dim=1, keepdim=True) / self.layout.grid_sizes_as(centred.dtype)
            grouped = centred if grouped is None else grouped + centred
        return grouped.flatten(0, 1).index_select(0, self.layout.flat_slot)

    @cached_property
    def grouped(self) -> torch.Tensor:
        return self.layout.gather(self.features)

    @cached_property
    def _grid_means(self) -> torch.Tensor:
        # `[C, 1, D]`: the means in the grid's rank, so that centring broadcasts without reshaping.
        grouped = self.grouped
        return grouped.sum(dim=1, keepdim=True) / self.layout.grid_sizes_as(grouped.dtype)

    @cached_property
    def means(self) -> torch.Tensor:
        return self._grid_means.squeeze(1)

    @cached_property
    def centred(self) -> torch.Tensor:
        return self.grouped - self._grid_means

    def centred_rows(self, classes: torch.Tensor) -> torch.Tensor:
        """`t_k - mu_{c(k)}` for each class in `classes`, `[len(classes), D]`: one lookup into `centred`."""
        return self.centred.flatten(0, 1)[self.layout.flat_slot[classes]]


def grouped_view(
    features: torch.Tensor | GroupedFeatures, clusters: torch.Tensor | ClusterLayout | None
) -> GroupedFeatures:
    """`features` itself when it is already a view, else its view on the layout of `clusters`.

    `clusters` None is one cluster of all classes (the global view). The functional cores take either,
    so that they can be called on plain tensors and checked against a formula on their own.
    """
    if isinstance(features, GroupedFeatures):
        return features
    if clusters is None:
        layout = ClusterLayout.single_group(features.shape[0], device=features.device)
    else:
        layout = as_layout(clusters, features.device)
    return GroupedFeatures(features, layout)
