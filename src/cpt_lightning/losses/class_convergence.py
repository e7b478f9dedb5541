"""Class-wise convergence: image features collapse onto their class prototype.

In the cluster-local frame each modality is centred by its own cluster mean,
because CLIP's image and text features live in different cones: the text
side by `mu_C` (mean of the cluster's tuned prototypes), the image side by
`m_C`, a class-balanced running mean of image features (see
`ClassConvergenceTerm`). Functional core plus the loss term.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
from torch.autograd.function import once_differentiable

from cpt_lightning.clustering.grid_terms import GridEvaluation, GridTermResult
from cpt_lightning.clustering.grouped import GroupedFeatures
from cpt_lightning.clustering.layout import ClusterLayout, as_layout
from cpt_lightning.losses._checks import require_clusters
from cpt_lightning.losses.base import LossInputs, LossTerm


def class_convergence_loss(
    image_features: torch.Tensor,
    labels: torch.Tensor,
    text_features: torch.Tensor,
    image_centres: torch.Tensor | None = None,
    text_centres: torch.Tensor | None = None,
    sample_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """`mean_i (1 - cos(f_i - a_{y_i}, t_{y_i} - b_{y_i}))` over the masked samples, in float32.

    `image_centres` / `text_centres` (`[K, D]`, per class) are the frame
    origins `a`, `b`; None means the origin (the plain variant,
    `1 - cos(f_i, t_{y_i})`). Differentiable zero when no sample is kept.
    """
    image = image_features.float()
    prototypes = text_features.float()[labels]
    if image_centres is not None:
        image = image - image_centres.float()[labels]
    if text_centres is not None:
        prototypes = prototypes - text_centres.float()[labels]
    return paired_convergence_loss(image, prototypes, sample_mask)


def paired_convergence_loss(
    image_vectors: torch.Tensor, prototype_vectors: torch.Tensor, sample_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """`mean_i (1 - cos(x_i, p_i))` over the masked rows of two `[B, D]` tensors already in their frame
    (`F.cosine_similarity`'s cosine); a differentiable zero when no row is kept."""
    return _WeightedCosineDistance.apply(image_vectors, prototype_vectors, _sample_weights(image_vectors, sample_mask))


def _sample_weights(vectors: torch.Tensor, sample_mask: torch.Tensor | None) -> torch.Tensor:
    """`[B]`: each row's share in the mean over the kept rows (all rows when `sample_mask` is None)."""
    if sample_mask is None:
        return vectors.new_full((vectors.shape[0],), 1.0 / vectors.shape[0])
    kept = sample_mask.to(vectors.dtype)
    return kept / kept.sum().clamp_min(1)


# `F.cosine_similarity`'s default: a norm below it is replaced by it.
_COSINE_EPS = 1e-8


def weighted_cosine_distance_and_gradients(
    vectors: torch.Tensor,
    prototypes: torch.Tensor,
    weights: torch.Tensor,
    needs_vectors_gradient: bool = True,
    needs_prototypes_gradient: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """`sum_i w_i (1 - cos(x_i, p_i))`, the cosine as `F.cosine_similarity` has it, and its gradients in closed
    form: `d cos / dx = (p - (x . p / |x|_c) x / |x|) / (|x|_c |p|_c)` (`|.|_c` the norm clamped at eps, whose
    clamp autograd does not see there either), and alike for `p`. A row of weight 0 gets a zero gradient,
    even when its vector is zero."""
    # Per-row quantities keep their last dimension (`[B, 1]`), so that the gradients broadcast them as they are.
    norms = (
        torch.linalg.vector_norm(vectors, dim=-1, keepdim=True),
        torch.linalg.vector_norm(prototypes, dim=-1, keepdim=True),
    )
    clamped = (norms[0].clamp_min(_COSINE_EPS), norms[1].clamp_min(_COSINE_EPS))
    denominators = clamped[0] * clamped[1]
    dots = (vectors * prototypes).sum(dim=-1, keepdim=True)
    value = torch.dot(weights, 1.0 - (dots / denominators).squeeze(-1))
    # -d loss / d cos over the clamped norms: d cos / dx is (p - (x . p / |x|_c) x / |x|) over them.
    share = weights.unsqueeze(-1) / denominators
    tiny = torch.finfo(dots.dtype).tiny  # x / |x| is 0 for a zero vector, as the norm's own backward has it
    gradients: list[torch.Tensor | None] = [None, None]
    pairs = ((vectors, prototypes), (prototypes, vectors))
    for index, needed in enumerate((needs_vectors_gradient, needs_prototypes_gradient)):
        if needed:
            own, other = pairs[index]
            radial = (dots / clamped[index]) * (own / norms[index].clamp_min(tiny))
            gradients[index] = share * (radial - other)
    return value, gradients[0], gradients[1]


class _WeightedCosineDistance(torch.autograd.Function):
    """`weighted_cosine_distance_and_gradients` as an autograd function (the image side may or may not need a
    gradient), for rows that are not on a cluster grid (the `plain` and `global_centred` variants)."""

    @staticmethod
    def forward(ctx, vectors: torch.Tensor, prototypes: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        value, *ctx.gradients = weighted_cosine_distance_and_gradients(
            vectors, prototypes, weights, ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        )
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        return tuple(None if gradient is None else gradient * grad for gradient in ctx.gradients) + (None,)


def cluster_image_origins(
    class_image_means: torch.Tensor, class_seen: torch.Tensor, clusters: torch.Tensor | ClusterLayout
) -> torch.Tensor:
    """`[C, D]`: each cluster's image origin `m_C`, the mean of the running image means of its classes seen
    so far (class-balanced, so a head class does not own its cluster's origin). `clusters`: a `[K]`
    assignment or its `ClusterLayout`."""
    layout = as_layout(clusters, class_image_means.device)
    # Each cluster's seen members as weights over all classes: one product gives the sums, a row sum the counts.
    weights = layout.membership_as(class_image_means.dtype) * class_seen  # the bools promote to 0 / 1
    return (weights @ class_image_means) / weights.sum(dim=-1, keepdim=True).clamp_min(1)


class ClassConvergenceTerm(LossTerm):
    """Pulls image features onto their class prototype (logged as `conv`).

    Variants: `cluster_local` (CPT's frame, needs clusters), `global_centred`
    (the same with every class in one frame: images centred by the class-balanced
    mean of all running class means, prototypes by the mean of all prototypes; no
    clusters) and `plain` (`1 - cos(f_i, t_{y_i})`). The image origin `m_C` comes from per-class
    running means `m_k` kept in buffers (sized on first use; checkpointed so
    a resumed fit continues exactly, and dropped by `CPTModule` when a
    checkpoint is loaded for other classes): in training mode, before the loss is
    computed, every class present in the batch updates
    `m_k <- ema_momentum * m_k + (1 - ema_momentum) * batch mean of class k`
    from detached features; a class seen for the first time is set to its
    batch mean (no blend with an arbitrary zero start). `m_C` is the mean of
    `m_k` over the cluster's classes seen so far, so it always includes the
    current batch's classes. Under DDP the per-class batch sums and counts are
    all-reduced first, so every rank holds identical running means.
    Singleton clusters have no cluster-local frame (`t_k - mu_C = 0`):
    `singletons="skip"` leaves their samples out (method.md: singletons take
    no part in intra-cluster terms), `singletons="global_frame"` centres them
    by the global means of both modalities instead.
    """

    name = "conv"

    def __init__(
        self,
        weight: float = 1.0,
        variant: Literal["cluster_local", "global_centred", "plain"] = "cluster_local",
        ema_momentum: float = 0.9,
        singletons: Literal["skip", "global_frame"] = "skip",
    ) -> None:
        super().__init__(weight)
        if variant not in ("cluster_local", "global_centred", "plain"):
            raise ValueError(
                f"ClassConvergenceTerm: variant must be 'cluster_local', 'global_centred' or 'plain', got {variant!r}."
            )
        if not 0.0 <= ema_momentum < 1.0:
            raise ValueError(f"ClassConvergenceTerm: ema_momentum must be in [0, 1), got {ema_momentum}.")
        if singletons not in ("skip", "global_frame"):
            raise ValueError(f"ClassConvergenceTerm: singletons must be 'skip' or 'global_frame', got {singletons!r}.")
        self.variant = variant
        self.ema_momentum = float(ema_momentum)
        self.singletons = singletons
        self.needs_clusters = variant == "cluster_local"
        # Training state like optimizer momentum: checkpointed so that a resumed fit is exact.
        self.register_buffer("class_image_means", torch.zeros(0, 0))
        self.register_buffer("class_seen", torch.zeros(0, dtype=torch.bool))
        self._shares: tuple[tuple, tuple[torch.Tensor, ...]] | None = None  # (key, shares), see `_shares_for`

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # The buffers are sized on first use; take the checkpoint's size before copying into them.
        for name in ("class_image_means", "class_seen"):
            incoming = state_dict.get(prefix + name)
            if incoming is not None and incoming.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(incoming, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        if self.variant == "plain":
            return class_convergence_loss(inputs.image_features, inputs.labels, inputs.text_features)
        if self.variant == "global_centred":
            if self.training:
                self.update_running_means(inputs.image_features, inputs.labels, inputs.text_features.shape[0])
            image_centre, text_centre = self._global_centres(inputs.text_features)
            num_classes = inputs.text_features.shape[0]
            return class_convergence_loss(
                inputs.image_features,
                inputs.labels,
                inputs.text_features,
                image_centre.expand(num_classes, -1),
                text_centre.expand(num_classes, -1),
            )
        if self.singletons == "skip":
            return self.grid_evaluation(inputs).value()
        clusters = require_clusters(self.name, inputs)
        if self.training:
            self.update_running_means(inputs.image_features, inputs.labels, inputs.text_features.shape[0])
        image_vectors = self._cluster_image_vectors(inputs.image_features, inputs.labels, clusters)
        prototype_vectors = inputs.grouped_text(clusters).centred_rows(inputs.labels)
        in_cluster = clusters.class_in_cluster[inputs.labels]
        global_image, global_text = self._global_centres(inputs.text_features)
        singleton = ~in_cluster.unsqueeze(-1)
        image_vectors = torch.where(singleton, inputs.image_features.float() - global_image, image_vectors)
        global_prototypes = inputs.text_features.float()[inputs.labels] - global_text
        prototype_vectors = torch.where(singleton, global_prototypes, prototype_vectors)
        return paired_convergence_loss(image_vectors, prototype_vectors)

    def grid_evaluation(self, inputs: LossInputs) -> GridEvaluation | None:
        """The `cluster_local` variant that skips singletons, on the step's grid; None for the others."""
        if self.variant != "cluster_local" or self.singletons != "skip":
            return None
        clusters = require_clusters(self.name, inputs)
        image_features, labels = inputs.image_features, inputs.labels

        def evaluate(grid: GroupedFeatures, needs_text: bool, needs_image: bool) -> GridTermResult:
            if self.training:
                self.update_running_means(image_features, labels, grid.features.shape[0])
            # Per sample, straight from the grid: `t_y - mu_C` is one lookup of the centred grid.
            image_vectors = self._cluster_image_vectors(image_features, labels, clusters)
            slots = clusters.flat_slot.index_select(0, labels)
            prototype_vectors = grid.centred.flatten(0, 1).index_select(0, slots)
            kept = clusters.class_in_cluster_as(image_vectors.dtype).index_select(0, labels)
            weights = kept / kept.sum().clamp_min(1)
            value, image_gradient, prototype_gradient = weighted_cosine_distance_and_gradients(
                image_vectors, prototype_vectors, weights, needs_image, needs_text
            )
            rows = None if prototype_gradient is None else (slots, prototype_gradient)
            return GridTermResult(value, centred_rows=rows, image=image_gradient)

        return GridEvaluation(inputs.grouped_text(clusters), evaluate, image_features)

    def _cluster_image_vectors(
        self, image_features: torch.Tensor, labels: torch.Tensor, clusters: ClusterLayout
    ) -> torch.Tensor:
        """`f_i - m_{c(y_i)}`: each image in its cluster's frame, from the running means as they are now."""
        origins = cluster_image_origins(self.class_image_means, self.class_seen, clusters)
        return image_features.float() - origins.index_select(0, clusters.inverse.index_select(0, labels))

    def _shares_for(self, means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(1 - ema_momentum, 1)` as 0-d tensors beside `means`: `torch.where` wraps Python numbers into new
        tensors on every call, which costs more than the selection itself at these sizes."""
        key = (means.device, means.dtype, self.ema_momentum)
        if self._shares is None or self._shares[0] != key:
            shares = (1.0 - self.ema_momentum, 1.0)
            self._shares = (key, tuple(torch.tensor(v, dtype=means.dtype, device=means.device) for v in shares))
        return self._shares[1]

    def _global_centres(self, text_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The global frame's origins: the mean of the seen classes' running image means, the prototypes' mean."""
        if self.class_image_means.numel() == 0:
            raise RuntimeError(
                "ClassConvergenceTerm: no running image means yet; the global frame is set by training "
                "batches, so call the term in training mode first (or use variant='plain')."
            )
        seen = self.class_seen.unsqueeze(-1).float()
        global_image = (self.class_image_means * seen).sum(0) / seen.sum().clamp_min(1)
        return global_image, text_features.float().mean(0)

    def update_running_means(self, image_features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        """Fold this step's (all-reduced) per-class image means into the running means (no gradient)."""
        features = image_features.detach().float()
        means, seen = self.class_image_means, self.class_seen
        if means.shape != (num_classes, features.shape[-1]):
            means = self.class_image_means = features.new_zeros(num_classes, features.shape[-1])
            seen = self.class_seen = torch.zeros(num_classes, dtype=torch.bool, device=features.device)
        sums = features.new_zeros(means.shape).index_add_(0, labels, features)
        counts = torch.bincount(labels, minlength=num_classes)
        if dist.is_available() and dist.is_initialized():
            # Sums and counts in one tensor, so that DDP reduces them in one call.
            reduced = torch.cat([sums, counts.unsqueeze(-1).to(sums.dtype)], dim=-1)
            dist.all_reduce(reduced)
            sums, counts = reduced[:, :-1], reduced[:, -1]
        present = counts > 0
        batch_means = sums / counts.clamp_min(1).unsqueeze(-1)
        # The batch mean's share in each class's new running mean: `1 - ema_momentum` for a class seen
        # before, all of it for a class seen for the first time, none for a class absent from the batch.
        # One in-place `lerp_` with these shares is the blend, the first-time copy and the keep at once,
        # in place like BatchNorm's running statistics (the buffers keep their identity across steps).
        share = torch.where(seen, *self._shares_for(means)) * present
        means.lerp_(batch_means, share.unsqueeze(-1))
        seen.logical_or_(present)
