"""`CPTModule`'s checkpoint hooks: a checkpoint holds the trained prompts, and loads for other classes too.

A mixin of `CPTModule`, in its own file so the module's file holds its state and training: what
these hooks compute lives in `models/prompt_checkpoint.py` (which parameters a checkpoint keeps)
and `checkpoints/` (reading a file, respelling renamed options). They use the module's
`classnames`, `cluster_ids` and `state_dict` (set in `CPTModule.__init__`).
"""

from __future__ import annotations

from os import PathLike

import torch
from lightning.pytorch import LightningModule

from cpt_lightning.checkpoints import read_checkpoint
from cpt_lightning.models.prompt_checkpoint import check_trained_parameters, drop_other_classes_state, strip_to_prompts


class CheckpointHooks(LightningModule):
    """Saves only what training changed; loads it, for the saved classes or others."""

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, hparams_file=None, strict=None, **kwargs):
        """Lightning's `load_from_checkpoint`, also for other class names (cross-dataset transfer) and for
        checkpoints saved before an option was renamed (`checkpoints/migration.py`).

        With `classnames=other`, the saved head / medium / tail groups (which describe the saved
        run's classes) are not reused: give `class_groups=` for the new classes (e.g. the target data
        module's), or get none. The cluster assignment and the loss terms' per-class state are
        rebuilt for the new classes (see `on_load_checkpoint`).
        """
        if isinstance(checkpoint_path, str | PathLike) and "://" not in str(checkpoint_path):  # a local file
            checkpoint = read_checkpoint(checkpoint_path)
            other_classes = "classnames" in kwargs and list(kwargs["classnames"]) != checkpoint.get("cpt_classnames")
            if other_classes and "class_groups" not in kwargs:
                kwargs["class_groups"] = None
            if hparams_file is None:
                # The respelled hyper-parameters stand in for the file's; what the caller passes still wins.
                kwargs = {**(checkpoint.get("hyper_parameters") or {}), **kwargs}
        return super().load_from_checkpoint(
            checkpoint_path, map_location=map_location, hparams_file=hparams_file, strict=strict, **kwargs
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        strip_to_prompts(checkpoint, self.classnames)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        check_trained_parameters(self, state)
        same_classes = drop_other_classes_state(state, checkpoint.get("cpt_classnames"), self.classnames)
        if same_classes and "cluster_ids" in state:
            self.cluster_ids = torch.empty_like(state["cluster_ids"]).to(self.cluster_ids.device)
        # What the checkpoint does not hold by design (the frozen CLIP, loaded from `clip_name_or_path`;
        # per-class state rebuilt for other classes) keeps this module's values, and the training state
        # of loss terms this module is not configured with is dropped, so that loading reports no keys.
        own = self.state_dict()
        for key in [k for k in state if k.startswith("loss.") and k not in own]:
            del state[key]
        for key, value in own.items():
            state.setdefault(key, value)
