"""What a CPTModule checkpoint holds: the prompts and the fit's per-class state, never the frozen CLIP.

The frozen CLIP is reloaded from `clip_name_or_path`; storing it would make every checkpoint the
size of CLIP instead of kilobytes. Loading checks that the trained parameters are all there with
the shapes this model expects, and drops per-class state that belongs to other classes.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from cpt_lightning.models.factory_spec import describe_factory

# Injected factories are stored as plain `{"class_path", "init_args"}` data (`weights_only` loads).
FACTORY_HYPERPARAMETERS = ("prompt_learner", "optimizer", "scheduler")


def strip_to_prompts(checkpoint: dict[str, Any], classnames: list[str]) -> None:
    """Drop the frozen CLIP's weights, record the training classes, describe factories as data."""
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("clip.")}
    checkpoint["cpt_classnames"] = classnames
    hyper_parameters = checkpoint.get("hyper_parameters")
    if hyper_parameters is not None:
        for key in FACTORY_HYPERPARAMETERS:
            if key in hyper_parameters:
                hyper_parameters[key] = describe_factory(hyper_parameters[key])


def check_trained_parameters(module: nn.Module, state: dict[str, Any]) -> None:
    """Fail, saying what to configure, unless `state` holds every trained parameter in its shape."""
    trained = {name: p for name, p in module.named_parameters() if p.requires_grad}
    missing = sorted(set(trained) - set(state))
    if missing:
        raise KeyError(
            f"Checkpoint lacks trained parameters {missing}. It was written by a different prompt learner "
            "(host, n_ctx_text or class_specific); configure the model as in the run that saved it."
        )
    for name, parameter in trained.items():
        if state[name].shape != parameter.shape:
            raise ValueError(
                f"Checkpoint parameter {name} has shape {tuple(state[name].shape)}, this model expects "
                f"{tuple(parameter.shape)}: a class-specific context cannot be loaded for other classes, and "
                "n_ctx_text must match."
            )


def drop_other_classes_state(state: dict[str, Any], saved_classes: list[str] | None, classnames: list[str]) -> bool:
    """Remove the cluster assignment and the loss terms' per-class state when the checkpoint's classes
    differ from `classnames` (they are rebuilt: clusters at fit start, running means on use).
    Returns whether the classes are the same."""
    if saved_classes == classnames:
        return True
    for key in [k for k in state if k == "cluster_ids" or k.startswith("loss.")]:
        del state[key]
    return False
