"""CPTModule: a frozen CLIP, a host prompt learner and a pluggable loss collection, as a LightningModule.

This file holds the module's state, features, cluster-invariant space and training step; its
evaluation and predict hooks are `models/evaluation_hooks.py`, its checkpoint hooks
`models/checkpoint_hooks.py` (mixins it inherits). What the hooks compute lives elsewhere:
losses/, metrics/evaluation.py, models/prompt_checkpoint.py, models/data_interface.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics.classification import MulticlassAccuracy

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.losses import CrossEntropyTerm, LossCollection, LossInputs, LossTerm
from cpt_lightning.metrics.evaluation import EvalResults
from cpt_lightning.metrics.keys import ALL_SET
from cpt_lightning.models.checkpoint_hooks import CheckpointHooks
from cpt_lightning.models.coop_prompt_learner import CoOpPromptLearner
from cpt_lightning.models.evaluation_hooks import EvaluationHooks
from cpt_lightning.models.factory_spec import resolve_factory
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.models.image_features import ImageFeatures, precomputed_image_features
from cpt_lightning.models.prompt_learner import PromptLearner
from cpt_lightning.models.step_logging import logs_this_step
from cpt_lightning.optim import WarmupCosineLR, coop_sgd
from cpt_lightning.process_cache import cached

PromptLearnerFactory = Callable[[FrozenClip, list[str]], PromptLearner]

DEFAULT_TEMPLATES = ("a photo of a {}.",)


class CPTModule(EvaluationHooks, CheckpointHooks):
    """Prompt tuning of a frozen CLIP with a configurable objective.

    logits = logit_scale * normalize(image features) @ normalize(prompted text features).T.
    The objective is a `LossCollection`: cross-entropy alone is CoOp; adding
    the KgCoOp anchor, a global ETF or the three cluster-aware NC terms gives
    KgCoOp, NPT-like and CPT. With `prompt_learner=None` the module is the
    zero-shot CLIP classifier (template ensemble) and has nothing to train.

    Args:
        classnames: training class names (linked from the data module by the CLI).
        clip_name_or_path: hub id or `save_pretrained` directory of a CLIP.
        prompt_learner: host factory `(clip, classnames) -> PromptLearner`;
            from YAML a `class_path` with `init_args` (default CoOp, 4 tokens
            from "a photo of a"). None: zero-shot CLIP.
        loss_terms: the objective's terms (default: cross-entropy only).
        templates: zero-shot templates for the frozen features `t0` (and the
            zero-shot classifier); "{}" is replaced by the class name.
        class_groups: per training class "head" / "medium" / "tail" (linked
            from the data module), for grouped accuracies.
        class_counts: per training class its number of training images (linked
            from the data module), the prior of the long-tail loss terms.
        optimizer: optimizer factory over the prompt parameters.
        scheduler: LR-scheduler factory; `WarmupCosineLR` gets the trainer's
            `max_epochs` when it has none.
    """

    def __init__(
        self,
        classnames: list[str],
        clip_name_or_path: str = "openai/clip-vit-base-patch16",
        prompt_learner: PromptLearnerFactory | None = CoOpPromptLearner,
        loss_terms: list[LossTerm] | None = None,
        templates: list[str] | None = None,
        class_groups: list[str] | None = None,
        class_counts: list[int] | None = None,
        optimizer: OptimizerCallable = coop_sgd,
        scheduler: LRSchedulerCallable = WarmupCosineLR,
    ) -> None:
        super().__init__()
        if not classnames:
            raise ValueError("CPTModule needs at least one class name; got an empty `classnames` list.")
        if class_groups is not None and len(class_groups) != len(classnames):
            raise ValueError(
                f"class_groups has {len(class_groups)} entries for {len(classnames)} classes; "
                "give one group per class or None."
            )
        if class_counts is not None and (len(class_counts) != len(classnames) or min(class_counts) < 1):
            raise ValueError(
                f"class_counts must hold one positive training count per class ({len(classnames)}); got "
                f"{list(class_counts)}. Link it from the data module or drop classes without images."
            )
        # The counts only feed training losses (not checkpointed either), and a checkpoint loaded for
        # other classes (`load_from_checkpoint(path, classnames=other)`) must not inherit them.
        self.save_hyperparameters(ignore=["loss_terms", "class_counts"])
        self.classnames = list(classnames)
        self.class_groups = list(class_groups) if class_groups is not None else None
        self.templates = list(templates) if templates else list(DEFAULT_TEMPLATES)
        self.clip = FrozenClip.from_pretrained(clip_name_or_path)
        prompt_learner = resolve_factory(prompt_learner)
        self.prompt_learner = prompt_learner(self.clip, self.classnames) if prompt_learner is not None else None
        self.loss = LossCollection(loss_terms if loss_terms is not None else [CrossEntropyTerm()])
        if self.loss.needs_class_counts and class_counts is None:
            raise ValueError(
                "A loss term (logit adjustment, balanced softmax) needs the training count of every class, "
                "but `class_counts` is None. `cpt` links it from the data module's `class_counts` (None when "
                "it trains on every image of a benchmark without counts); pass `model.class_counts` yourself."
            )
        # Derived from the data at build time, like the class names: never checkpointed.
        counts = torch.tensor(class_counts if class_counts is not None else [], dtype=torch.float32)
        self.register_buffer("class_counts", counts, persistent=False)
        self.optimizer_factory = resolve_factory(optimizer)
        self.scheduler_factory = resolve_factory(scheduler)
        # t0 depends only on class names and the frozen CLIP: recomputed, never checkpointed.
        self.register_buffer("frozen_text_features", torch.empty(0), persistent=False)
        # The cluster-invariant space is checkpointed so validate/test/resume see the fit's assignment.
        self.register_buffer("cluster_ids", torch.empty(0, dtype=torch.long))
        # The assignment's layout, built on first use after each installation (`cluster_layout`).
        self._cluster_layout: ClusterLayout | None = None
        self.register_load_state_dict_post_hook(_forget_cluster_layout_after_load)
        self.strict_loading = False  # checkpoints hold prompts, not the frozen CLIP
        self._eval_text_features: dict[str, torch.Tensor] = {}
        self._eval_sets: dict[str, list[str]] = {ALL_SET: self.classnames}
        self.train_accuracy = MulticlassAccuracy(num_classes=len(self.classnames), average="micro")
        self.eval_metrics = torch.nn.ModuleDict()
        self.eval_results: dict[str, EvalResults] = {}  # latest epoch per stage, for callbacks and runners

    # ----------------------------------------------------------------- features
    @property
    def image_settings(self) -> ImageSettings:
        return self.clip.image_settings

    @property
    def tokenizer(self):
        return self.clip.tokenizer

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features `[B, D]`; no graph through a frozen image tower.

        Cached features (`ImageFeatures`, from a data module's `feature_cache`) are used as they are.
        """
        if isinstance(pixel_values, ImageFeatures):
            return precomputed_image_features(pixel_values, self.prompt_learner)
        if self.prompt_learner is not None and self.prompt_learner.prompts_images:
            return self.prompt_learner.encode_images(self.clip, pixel_values)
        with torch.no_grad():
            return self.clip.encode_images(pixel_values)

    def prompted_text_features(self, classnames: list[str] | None = None) -> torch.Tensor:
        """Prompt-tuned, L2-normalised text features `[K, D]` (zero-shot ones without a prompt learner)."""
        classnames = self.classnames if classnames is None else classnames
        if self.prompt_learner is None:
            return self.zero_shot_text_features(classnames)
        return self.prompt_learner.encode_text(self.clip, classnames)

    def zero_shot_text_features(
        self,
        classnames: list[str] | None = None,
        templates: Iterable[str] | None = None,
        batch_size: int = 256,
    ) -> torch.Tensor:
        """Frozen CLIP's text features of `classnames` (default: the training classes): per class, the
        re-normalised mean over `templates` (default: the module's) (`FrozenClip.zero_shot_text_features`)."""
        classnames = self.classnames if classnames is None else classnames
        templates = list(templates) if templates is not None else self.templates
        device = self.clip.token_embedding.weight.device
        key = None
        if self.clip.cache_key is not None:
            autocast = torch.is_autocast_enabled(device.type)
            precision = (autocast, torch.get_autocast_dtype(device.type) if autocast else None)
            key = (self.clip.cache_key, tuple(classnames), tuple(templates), str(device), str(precision))
        features = cached(
            "zero_shot_text_features",
            key,
            lambda: self.clip.zero_shot_text_features(classnames, templates, batch_size),
        )
        return features.to(device, copy=True)  # a copy: the shared value must not change with a run's buffer

    def logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        return self.clip.logit_scale * image_features @ text_features.t().to(image_features.dtype)

    def forward(self, pixel_values: torch.Tensor, classnames: list[str] | None = None) -> torch.Tensor:
        """Class logits of images over `classnames` (default: the training classes)."""
        return self.logits(self.encode_images(pixel_values), self.prompted_text_features(classnames))

    # ------------------------------------------------------- cluster-invariant space
    def set_cluster_assignment(self, cluster_ids: torch.Tensor) -> None:
        """Install the cluster of each training class (a `[K]` long tensor, ids 0..C-1)."""
        cluster_ids = torch.as_tensor(cluster_ids, dtype=torch.long)
        if cluster_ids.shape != (len(self.classnames),):
            raise ValueError(
                f"cluster assignment has shape {tuple(cluster_ids.shape)}; expected ({len(self.classnames)},), "
                "one cluster id per training class."
            )
        self.cluster_ids = cluster_ids.to(self.cluster_ids.device)
        self._forget_cluster_layout()

    @property
    def cluster_layout(self) -> ClusterLayout | None:
        """The installed assignment's `ClusterLayout` (None without one), built once per installation.

        Building it also lets the loss terms `prepare` what depends only on the assignment and `t0`.
        An assignment is installed by `set_cluster_assignment`, by loading a state dict, and at
        every fit start (after the module reached its device).
        """
        if self.cluster_ids.numel() == 0:
            return None
        if self._cluster_layout is None:
            self._cluster_layout = ClusterLayout.from_ids(self.cluster_ids)
            frozen = self.frozen_text_features if self.frozen_text_features.numel() else None
            self.loss.prepare(self._cluster_layout, frozen)
        return self._cluster_layout

    def _forget_cluster_layout(self) -> None:
        self._cluster_layout = None

    def ensure_frozen_text_features(self) -> torch.Tensor:
        """Compute `t0` for the training classes once (after a device move it is recomputed only if missing)."""
        if self.frozen_text_features.numel() == 0:
            self.frozen_text_features = self.zero_shot_text_features(self.classnames)
            self._forget_cluster_layout()  # terms prepare with t0
        return self.frozen_text_features

    def on_fit_start(self) -> None:
        if self.loss.needs_frozen_text:
            self.ensure_frozen_text_features()
        self._forget_cluster_layout()  # rebuilt on this device, with this fit's t0

    # ------------------------------------------------------------------ training
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pixel_values, labels = batch
        image_features = self.encode_images(pixel_values)
        text_features = self.prompted_text_features()
        logits = self.logits(image_features, text_features)
        if self.loss.needs_clusters and self.cluster_ids.numel() == 0:
            raise RuntimeError(
                "A loss term needs the cluster assignment but none was computed. Add "
                "`cpt_lightning.callbacks.ClusterAssignmentCallback` to `trainer.callbacks`."
            )
        inputs = LossInputs(
            logits=logits,
            labels=labels,
            image_features=image_features,
            text_features=text_features,
            frozen_text_features=self.frozen_text_features if self.frozen_text_features.numel() else None,
            cluster_ids=self.cluster_ids if self.cluster_ids.numel() else None,
            clusters=self.cluster_layout,
            class_counts=self.class_counts if self.class_counts.numel() else None,
        )
        total, terms = self.loss(inputs)
        # `update`, not `__call__`: the per-batch accuracy that `__call__` also computes is never used.
        self.train_accuracy.update(logits.detach(), labels)
        if logs_this_step(self):  # see step_logging: skipped calls would change no logged row
            batch_size = labels.shape[0]
            self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
            for name, value in terms.items():
                self.log(f"train/loss_{name}", value, batch_size=batch_size)
        return total

    def on_train_epoch_end(self) -> None:
        # Logged once per epoch instead of handing the metric object to `self.log` every step.
        if self.train_accuracy.update_count:
            self.log("train/acc", self.train_accuracy.compute())
        self.train_accuracy.reset()

    # ---------------------------------------------------------------- evaluation
    def setup(self, stage: str) -> None:
        if stage == "fit" and self.prompt_learner is None:
            raise RuntimeError(
                "This CPTModule has no prompt learner (zero-shot CLIP) and so nothing to train. "
                "Use `cpt test` / `cpt validate` for zero-shot evaluation, or configure `model.prompt_learner`."
            )
        self._configure_evaluation()  # the evaluation hooks: models/evaluation_hooks.py

    # ------------------------------------------------------------- optimisation
    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("No trainable parameters: configure `model.prompt_learner` to train prompts.")
        optimizer = self.optimizer_factory(params)
        scheduler = self.scheduler_factory(optimizer)
        if isinstance(scheduler, WarmupCosineLR) and scheduler.max_epochs is None:
            scheduler.max_epochs = self.trainer.max_epochs
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def _forget_cluster_layout_after_load(module: CPTModule, incompatible_keys) -> None:
    # A module-level function, not a lambda, so that the module stays picklable (DDP spawn).
    module._forget_cluster_layout()
