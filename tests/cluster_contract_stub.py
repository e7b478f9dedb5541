"""A LightningModule with just the cluster-related API of CPTModule, for callback tests."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


class ClusterContractModule(pl.LightningModule):
    """Exposes `classnames`, `zero_shot_text_features`, `frozen_text_features`, `cluster_ids`.

    Its zero-shot features depend on `feature_seed + global_rank`, so ranks
    that computed their own assignment would disagree; counting calls shows
    whether the features were recomputed.
    """

    def __init__(self, num_classes: int = 20, dim: int = 8, feature_seed: int = 0) -> None:
        super().__init__()
        self.classnames = [f"class_{k}" for k in range(num_classes)]
        self.dim = dim
        self.feature_seed = feature_seed
        self.zero_shot_calls = 0
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer("frozen_text_features", torch.zeros(0, dim), persistent=False)
        self.register_buffer("cluster_ids", torch.zeros(0, dtype=torch.long))

    def zero_shot_text_features(self, templates: list[str] | None = None) -> torch.Tensor:
        self.zero_shot_calls += 1
        generator = torch.Generator().manual_seed(self.feature_seed + self.global_rank)
        return torch.nn.functional.normalize(torch.randn(len(self.classnames), self.dim, generator=generator), dim=-1)

    def set_cluster_assignment(self, cluster_ids: torch.Tensor) -> None:
        self.cluster_ids = cluster_ids.to(self.device, torch.long)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        incoming = state_dict.get(prefix + "cluster_ids")
        if incoming is not None:
            self.cluster_ids = torch.empty_like(incoming)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.weight - batch[0].mean()).square().sum()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.log("test/cluster_count", float(self.cluster_ids.max() + 1))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(4, 1)), batch_size=2)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(2, 1)), batch_size=2)
