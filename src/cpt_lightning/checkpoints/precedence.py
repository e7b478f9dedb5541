"""Which value a run uses when `--ckpt_path` is given: what the user typed, else the checkpoint's.

Lightning's `LightningCLI` merges a checkpoint's saved hyper-parameters over the whole parsed
config, so a path, an optimizer setting or a prompt option typed on the command line or in a
config file is silently replaced. Here a value the user gave explicitly (command line or config
file; defaults do not count) wins, the checkpoint fills in only what the user left at its
default, and every value it fills in is listed. Prompt-learner options decide the shape of the
learned parameters, so an explicit one that differs from the checkpoint's cannot work: that is
an error naming both values, raised before anything is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

# Options whose value is baked into the shape of the checkpointed prompt parameters.
PROMPT_SHAPE_KEY = "prompt_learner"


class PromptShapeMismatchError(ValueError):
    """An explicitly typed prompt-learner option differs from the one the checkpoint was trained with."""


@dataclass
class MergedHyperParameters:
    """`model`: the model config to parse over the current one; `replaced`: key -> checkpoint value."""

    model: dict[str, Any]
    replaced: dict[str, Any] = field(default_factory=dict)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}")
    else:
        yield prefix, value


def _as_class_config(saved: dict[str, Any]) -> dict[str, Any]:
    """Lightning stores a subclass-mode model's class as `_class_path` beside its init args."""
    if "_class_path" not in saved:
        return saved
    rest = {key: value for key, value in saved.items() if key != "_class_path"}
    return {"class_path": saved["_class_path"], "init_args": rest}


def _merge(saved: Any, typed: Any, current: Any, key: str, replaced: dict[str, Any]) -> Any:
    """`typed` (explicit) wins leaf by leaf; a different explicit `class_path` takes its whole subtree."""
    if isinstance(saved, dict) and isinstance(typed, dict):
        if "class_path" in typed and typed.get("class_path") != saved.get("class_path"):
            return typed
        current = current if isinstance(current, dict) else {}
        merged = {}
        for name in saved.keys() | typed.keys():
            if name in typed and name not in saved:
                merged[name] = typed[name]
            elif name in typed:
                merged[name] = _merge(saved[name], typed[name], current.get(name), f"{key}.{name}", replaced)
            else:
                merged[name] = _take_saved(saved[name], current.get(name), f"{key}.{name}", replaced)
        return merged
    return typed


def _take_saved(saved: Any, current: Any, key: str, replaced: dict[str, Any]) -> Any:
    current_leaves = dict(_leaves(current, key))
    for leaf, value in _leaves(saved, key):
        if _canonical(current_leaves.get(leaf)) != _canonical(value):
            replaced[leaf] = value
    return saved


def _shape_conflicts(saved: dict[str, Any], explicit: dict[str, Any]) -> list[str]:
    if PROMPT_SHAPE_KEY not in explicit or PROMPT_SHAPE_KEY not in saved:
        return []
    prefix = f"model.{PROMPT_SHAPE_KEY}"
    saved_leaves = dict(_leaves(saved[PROMPT_SHAPE_KEY], prefix))
    typed = explicit[PROMPT_SHAPE_KEY]
    if not isinstance(typed, dict) or not isinstance(saved[PROMPT_SHAPE_KEY], dict):
        if _canonical(typed) != _canonical(saved[PROMPT_SHAPE_KEY]):
            return [f"{prefix}: you gave {typed!r}, the checkpoint was trained with {saved[PROMPT_SHAPE_KEY]!r}"]
        return []
    if typed.get("class_path", saved_leaves.get(f"{prefix}.class_path")) != saved_leaves.get(f"{prefix}.class_path"):
        typed_class, saved_class = typed.get("class_path"), saved_leaves.get(f"{prefix}.class_path")
        return [f"{prefix}.class_path: you gave {typed_class!r}, the checkpoint was trained with {saved_class!r}"]
    return [
        f"{leaf}: you gave {value!r}, the checkpoint was trained with {saved_leaves[leaf]!r}"
        for leaf, value in _leaves(typed, prefix)
        if leaf in saved_leaves and _canonical(value) != _canonical(saved_leaves[leaf])
    ]


def merge_saved_hyper_parameters(
    saved: dict[str, Any],
    explicit: dict[str, Any],
    current: dict[str, Any],
    checkpoint: str,
    linked: Collection[str] = (),
) -> MergedHyperParameters:
    """Combine a checkpoint's `hyper_parameters` with the model config the user typed.

    `saved`: the checkpoint's hyper-parameters; `explicit`: the model values given on the command
    line or in config files (no defaults); `current`: the parsed model config (with defaults);
    `linked`: model arguments filled from the data module, which a checkpoint never sets.
    Raises `PromptShapeMismatchError` when an explicit prompt-learner option differs from the
    checkpoint's, listing every such option with both values.
    """
    saved = _as_class_config({k: v for k, v in saved.items() if k != "_instantiator" and k not in linked})
    conflicts = _shape_conflicts(saved, explicit)
    if conflicts:
        raise PromptShapeMismatchError(
            f"Checkpoint {checkpoint} was trained with another prompt shape than this run asks for: "
            + "; ".join(conflicts)
            + ". A checkpoint's prompt parameters only load into the prompt learner they were trained with: "
            "remove those options to use the checkpoint's, or pass a checkpoint trained with yours."
        )
    replaced: dict[str, Any] = {}
    merged = _merge(saved, explicit, current, "model", replaced)
    return MergedHyperParameters(model=merged, replaced=replaced)


def describe_replaced(replaced: dict[str, Any], checkpoint: str) -> str:
    """One line listing every value taken from the checkpoint instead of a default."""
    values = ", ".join(f"{key}={value!r}" for key, value in sorted(replaced.items()))
    return (
        f"From checkpoint {checkpoint}: {len(replaced)} value(s) you did not set are taken from its saved "
        f"hyper-parameters: {values}. Type a value on the command line or in a config file to override one."
    )
