"""Padded per-cluster views of class-indexed tensors, so cluster terms vectorise.

A cluster assignment `cluster_ids[K]` is turned once (when it is installed) into an index matrix
`[C, S]` (S = the largest cluster) and a validity mask, so that every
per-cluster computation becomes one batched tensor operation instead of a
Python loop over clusters (K can be 1,000 with S = 16, every step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch


@dataclass(frozen=True)
class ClusterLayout:
    """Where each class sits in a padded `[C, S]` grid of clusters.

    `index[c, s]` is the class in slot s of cluster c (0 where padded),
    `mask[c, s]` says whether the slot is real, `sizes[c]` the cluster size,
    `inverse[k]` the dense cluster number (0..C-1) of class k.
    """

    index: torch.Tensor  # [C, S] long
    mask: torch.Tensor  # [C, S] bool
    sizes: torch.Tensor  # [C] long
    inverse: torch.Tensor  # [K] long
    # dtype (or ("pairs", dtype), ("membership", dtype), ("in_cluster", dtype)) -> tensors in that dtype that
    # every step would otherwise recompute: (`[C, S, 1]` mask, `[C]` sizes, `[C, 1, 1]` sizes), the ETF
    # deviation's per-cluster constants (`pair_targets_as`), the membership matrix (`membership_as`) and
    # `class_in_cluster_as`.
    _casts: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_ids(cls, cluster_ids: torch.Tensor) -> ClusterLayout:
        """Build the layout from any integer labels (not necessarily 0..C-1)."""
        if cluster_ids.dim() != 1 or cluster_ids.numel() == 0:
            raise ValueError(
                f"cluster_ids must be a non-empty 1-D tensor of class -> cluster, got shape "
                f"{tuple(cluster_ids.shape)}. Run the cluster-assignment callback first."
            )
        _, inverse = torch.unique(cluster_ids, return_inverse=True)
        sizes = torch.bincount(inverse)
        order = torch.argsort(inverse, stable=True)
        offsets = torch.cumsum(sizes, 0) - sizes
        slot = torch.arange(order.numel(), device=order.device) - offsets[inverse[order]]
        index = torch.zeros(sizes.numel(), int(sizes.max()), dtype=torch.long, device=order.device)
        mask = torch.zeros_like(index, dtype=torch.bool)
        index[inverse[order], slot] = order
        mask[inverse[order], slot] = True
        return cls(index=index, mask=mask, sizes=sizes, inverse=inverse)

    @classmethod
    def single_group(cls, num_classes: int, device: torch.device | None = None) -> ClusterLayout:
        """All classes in one cluster: the global (NPT-style) view."""
        return cls.from_ids(torch.zeros(num_classes, dtype=torch.long, device=device))

    def gather(self, class_features: torch.Tensor) -> torch.Tensor:
        """`[K, D] -> [C, S, D]`, padded slots zeroed."""
        rows = class_features.index_select(0, self.flat_index).view(*self.index.shape, *class_features.shape[1:])
        return rows * self.slot_mask_as(class_features.dtype)

    def slot_mask_as(self, dtype: torch.dtype) -> torch.Tensor:
        """`mask` as a `[C, S, 1]` tensor of `dtype` (1 for real slots, 0 for padding)."""
        return self._cast(dtype)[0]

    def sizes_as(self, dtype: torch.dtype) -> torch.Tensor:
        """`sizes` as a `[C]` tensor of `dtype`."""
        return self._cast(dtype)[1]

    def grid_sizes_as(self, dtype: torch.dtype) -> torch.Tensor:
        """`sizes` as a `[C, 1, 1]` tensor of `dtype`, to divide a `[C, S, D]` grid's per-cluster sums by."""
        return self._cast(dtype)[2]

    def pair_targets_as(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """`([C, 1, 1] simplex cosine -1/(n-1), [C] pair count n(n-1))` in `dtype`, each clamped to 1 where
        n < 2 (singletons have no pairs): the constants of the ETF deviation, cast once per dtype."""
        key = ("pairs", dtype)
        if key not in self._casts:
            sizes = self.sizes_as(dtype)
            target = -1.0 / (sizes - 1).clamp_min(1)
            self._casts[key] = (target.view(-1, 1, 1), (sizes * (sizes - 1)).clamp_min(1))
        return self._casts[key]

    def _cast(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if dtype not in self._casts:
            sizes = self.sizes.to(dtype)
            self._casts[dtype] = (self.mask.unsqueeze(-1).to(dtype), sizes, sizes.view(-1, 1, 1))
        return self._casts[dtype]

    def membership_as(self, dtype: torch.dtype) -> torch.Tensor:
        """`[C, K]` in `dtype`: 1 where class k belongs to cluster c, so that per-cluster weighted sums over
        classes are one matrix product."""
        key = ("membership", dtype)
        if key not in self._casts:
            clusters = torch.arange(self.sizes.numel(), device=self.inverse.device)
            self._casts[key] = (self.inverse.unsqueeze(0) == clusters.unsqueeze(1)).to(dtype)
        return self._casts[key]

    def class_in_cluster_as(self, dtype: torch.dtype) -> torch.Tensor:
        """`class_in_cluster` as a `[K]` tensor of `dtype` (1 for a class in a cluster of >= 2 members, else 0)."""
        key = ("in_cluster", dtype)
        if key not in self._casts:
            self._casts[key] = self.class_in_cluster.to(dtype)
        return self._casts[key]

    def means(self, class_features: torch.Tensor) -> torch.Tensor:
        """Per-cluster mean of class features, `[C, D]`."""
        return self.grouped_means(self.gather(class_features))

    def grouped_means(self, grouped: torch.Tensor) -> torch.Tensor:
        """Per-cluster mean of an already gathered `[C, S, D]` tensor (saves a second gather)."""
        sums = grouped.sum(dim=1)
        return sums / self.sizes_as(sums.dtype).unsqueeze(-1)

    @cached_property
    def pair_mask(self) -> torch.Tensor:
        """`[C, S, S]`: True for pairs of distinct real members of a cluster."""
        slots = self.mask.shape[1]
        off_diagonal = ~torch.eye(slots, dtype=torch.bool, device=self.mask.device)
        return self.mask.unsqueeze(2) & self.mask.unsqueeze(1) & off_diagonal

    @cached_property
    def multi_member_clusters(self) -> torch.Tensor:
        """Indices of the clusters with at least two members (the ones intra-cluster terms average over)."""
        return torch.nonzero(self.sizes >= 2).flatten()

    @cached_property
    def has_multi_member_cluster(self) -> bool:
        """Whether any cluster has two members (a Python bool, so checking it never syncs a GPU)."""
        return bool((self.sizes >= 2).any())

    @cached_property
    def class_in_cluster(self) -> torch.Tensor:
        """`[K]`: True for classes whose cluster has at least two members."""
        return self.sizes[self.inverse] >= 2

    @cached_property
    def flat_index(self) -> torch.Tensor:
        """`index` flattened to `[C * S]`, for one `index_select` (a cheaper call than indexing by a matrix)."""
        return self.index.flatten()

    @cached_property
    def flat_slot(self) -> torch.Tensor:
        """`[K]`: class k's slot in the grid flattened to `C * S` rows (`index.flatten()[flat_slot[k]] == k`)."""
        flat = torch.empty_like(self.inverse)
        flat[self.index[self.mask]] = torch.nonzero(self.mask.flatten()).flatten()
        return flat


def as_layout(clusters: torch.Tensor | ClusterLayout, device: torch.device) -> ClusterLayout:
    """`clusters` itself when it is a prebuilt layout, else the layout of the `[K]` assignment on `device`.

    A fit builds its layout once, when the assignment is installed (`CPTModule`), and hands it to
    every term in `LossInputs.clusters`; the functional cores also accept plain ids so that they
    can be called (and checked against a formula) on their own.
    """
    if isinstance(clusters, ClusterLayout):
        return clusters
    return ClusterLayout.from_ids(clusters.to(device))
