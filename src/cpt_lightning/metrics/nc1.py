"""NC1: within-class variability of image features relative to between-class spread.

`NC1 = Tr(Sigma_W Sigma_B^+) / K` (Papyan, Han & Donoho, 2020), from
sufficient statistics that add up exactly across batches and DDP ranks.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

PINV_RTOL = 1e-8  # Sigma_B has rank <= K - 1; float64 round-off in its null space is ~1e-16.


def nc1_statistics(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class feature sums `[K, D]`, per-class counts `[K]`, and `sum_i f_i f_i^T` `[D, D]`, float64."""
    features = features.detach().double()
    class_sums = features.new_zeros(num_classes, features.shape[1]).index_add_(0, labels, features)
    class_counts = torch.bincount(labels, minlength=num_classes).double()
    return class_sums, class_counts, features.T @ features


def nc1_from_statistics(
    class_sums: torch.Tensor, class_counts: torch.Tensor, second_moment: torch.Tensor
) -> torch.Tensor:
    """`Tr(Sigma_W Sigma_B^+) / K'` over the K' classes with at least one sample.

    `Sigma_W = (1/N) sum_i (f_i - mu_{y_i})(f_i - mu_{y_i})^T` (sample-averaged,
    as Papyan et al.); `Sigma_B = (1/K') sum_k (mu_k - mu_G)(mu_k - mu_G)^T`
    with `mu_G` the mean of the class means (class-balanced, so head classes
    do not define the centre of a long-tailed set). `Sigma_B^+` is the
    Moore-Penrose pseudo-inverse (relative cut-off 1e-8). NaN when fewer than
    two classes were seen.
    """
    observed = class_counts > 0
    if int(observed.sum()) < 2:
        return class_sums.new_tensor(float("nan"))
    counts = class_counts[observed]
    means = class_sums[observed] / counts.unsqueeze(-1)
    within = (second_moment - (means * counts.unsqueeze(-1)).T @ means) / counts.sum()
    centred = means - means.mean(0)
    between = centred.T @ centred / len(counts)
    between_pinv = torch.linalg.pinv(between, rtol=PINV_RTOL, hermitian=True)
    return torch.trace(within @ between_pinv) / len(counts)


def nc1_within_class_variability(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """NC1 of one set of features; see `nc1_from_statistics` for the definition."""
    return nc1_from_statistics(*nc1_statistics(features, labels, num_classes))


class NC1WithinClassVariability(Metric):
    """NC1 of image features over an epoch (lower = more collapsed); float64 sum states.

    `update(features [B, D], labels [B])`; labels index `0..num_classes-1`.
    States are per-class sums, per-class counts and the total second moment,
    all reduced by sum, so the DDP result equals the single-process one.

    Example:
        >>> metric = NC1WithinClassVariability(num_classes=3, feature_dim=4)
        >>> means = torch.eye(3, 4)
        >>> metric.update(means.repeat(2, 1), torch.arange(3).repeat(2))
        >>> float(metric.compute())
        0.0
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, num_classes: int, feature_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.add_state("class_sums", torch.zeros(num_classes, feature_dim, dtype=torch.float64), "sum")
        self.add_state("class_counts", torch.zeros(num_classes, dtype=torch.float64), "sum")
        self.add_state("second_moment", torch.zeros(feature_dim, feature_dim, dtype=torch.float64), "sum")

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        sums, counts, second_moment = nc1_statistics(features, labels, self.num_classes)
        self.class_sums += sums
        self.class_counts += counts
        self.second_moment += second_moment

    def compute(self) -> torch.Tensor:
        return nc1_from_statistics(self.class_sums, self.class_counts, self.second_moment)
