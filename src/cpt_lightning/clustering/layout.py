"""Padded per-cluster views of class-indexed tensors, so cluster terms vectorise.

A cluster assignment `cluster_ids[K]` is turned once into an index matrix
`[C, S]` (S = the largest cluster) and a validity mask, so that every
per-cluster computation becomes one batched tensor operation instead of a
Python loop over clusters (K can be 1,000 with S = 16, every step).
"""

from __future__ import annotations

from dataclasses import dataclass

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
        return class_features[self.index] * self.mask.unsqueeze(-1).to(class_features.dtype)

    def means(self, class_features: torch.Tensor) -> torch.Tensor:
        """Per-cluster mean of class features, `[C, D]`."""
        sums = self.gather(class_features).sum(dim=1)
        return sums / self.sizes.unsqueeze(-1).to(sums.dtype)
