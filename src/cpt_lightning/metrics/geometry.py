"""The neural-collapse geometry a CPTModule reports every evaluation epoch."""

from __future__ import annotations

import torch
from torch import nn

from cpt_lightning.metrics.etf_deviation import EtfDeviation
from cpt_lightning.metrics.intra_cluster_cosine import IntraClusterCosine
from cpt_lightning.metrics.keys import (
    ETF_DEVIATION_CLUSTER,
    ETF_DEVIATION_GLOBAL_CENTRED,
    INTRA_CLUSTER_COSINE_MEAN,
    INTRA_CLUSTER_COSINE_STD,
    NC1,
)
from cpt_lightning.metrics.nc1 import NC1WithinClassVariability


class GeometryMetrics(nn.Module):
    """NC1 of image features per evaluation set, and the geometry of the training prototypes.

    `update_images(set_name, features, labels)` every evaluation batch;
    `compute(text_features, cluster_ids)` once per epoch with the prompt-tuned
    training prototypes returns (and resets) `nc1` (or `<set>/nc1` with
    several sets), `etf_deviation_global_centred` (all classes as one
    cluster, centred: not the uncentred NPT `global` ETF loss), and -- when clusters are assigned
    -- `etf_deviation_cluster`, `intra_cluster_cosine_mean` and
    `intra_cluster_cosine_std`. Every member is a torchmetrics `Metric`, so
    DDP ranks are reduced inside `compute`.
    """

    def __init__(self, eval_set_sizes: dict[str, int], feature_dim: int) -> None:
        super().__init__()
        self.nc1 = nn.ModuleDict(
            {name: NC1WithinClassVariability(size, feature_dim) for name, size in eval_set_sizes.items()}
        )
        self.etf_global = EtfDeviation(centred=True)
        self.etf_cluster = EtfDeviation(centred=True)
        self.intra_cluster_cosine = IntraClusterCosine()

    def update_images(self, set_name: str, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.nc1[set_name].update(features, labels)

    def compute(self, text_features: torch.Tensor, cluster_ids: torch.Tensor | None) -> dict[str, torch.Tensor]:
        values: dict[str, torch.Tensor] = {}
        for name, metric in self.nc1.items():
            if metric.update_called:
                values[NC1 if len(self.nc1) == 1 else f"{name}/{NC1}"] = metric.compute()
        self.etf_global.update(text_features)
        values[ETF_DEVIATION_GLOBAL_CENTRED] = self.etf_global.compute()
        if cluster_ids is not None and cluster_ids.numel() == text_features.shape[0]:
            self.etf_cluster.update(text_features, cluster_ids)
            self.intra_cluster_cosine.update(text_features, cluster_ids)
            values[ETF_DEVIATION_CLUSTER] = self.etf_cluster.compute()
            cosines = self.intra_cluster_cosine.compute()
            values[INTRA_CLUSTER_COSINE_MEAN] = cosines["mean"]
            values[INTRA_CLUSTER_COSINE_STD] = cosines["std"]
        for metric in self.modules():
            if metric is not self and hasattr(metric, "reset"):
                metric.reset()
        return values
