"""Checkpoints saved before an option was renamed still load: their saved hyper-parameters are respelled.

Lightning's own `lightning.pytorch.utilities.migration` upgrades only Lightning's keys, indexed by
Lightning version, and has no place for a library's own renames; this module is that place. A
rename is one entry of `RENAMED_INIT_ARGS`: the host classes it applies to and old -> new name.
A checkpoint that spells an option both ways with different values was edited by hand and is
refused, since either value could be the trained one.

Run identities (`checkpoints/ownership.py`) are digests of the run config, so a run recorded
before a rename has another digest than the same run spelled today: `with_old_names` gives the
config as it was spelled then, so that `--ckpt_path last` still recognises the run.
"""

from __future__ import annotations

import copy
from typing import Any

from lightning.pytorch.utilities import rank_zero_info

# The hyper-parameter holding the host's `class_path` / `init_args` (CPTModule's `prompt_learner`).
HOST_KEY = "prompt_learner"
_COOP = ("cpt_lightning.models.CoOpPromptLearner", "cpt_lightning.models.coop_prompt_learner.CoOpPromptLearner")
# (host class paths, {old init-arg name: new name}): CoOp's prompt length was named like IVLP's (issue 18).
RENAMED_INIT_ARGS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = ((_COOP, {"n_ctx": "n_ctx_text"}),)


class CheckpointMigrationError(ValueError):
    """A checkpoint spells a renamed option under its old and its new name with different values."""


def _renames_for(host: Any) -> dict[str, str]:
    if not isinstance(host, dict) or not isinstance(host.get("init_args"), dict):
        return {}
    class_path = host.get("class_path")
    return {old: new for paths, names in RENAMED_INIT_ARGS if class_path in paths for old, new in names.items()}


def migrate_hyper_parameters(hyper_parameters: dict[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """`hyper_parameters` with every renamed host option under its new name, and one note per rename.

    `source` names the checkpoint in the error. The input is not changed. Raises
    `CheckpointMigrationError` when an option is saved under both names with different values.
    """
    host = hyper_parameters.get(HOST_KEY)
    renames = {old: new for old, new in _renames_for(host).items() if old in host["init_args"]}
    if not renames:
        return hyper_parameters, []
    init_args = dict(host["init_args"])
    notes = []
    for old, new in renames.items():
        value = init_args.pop(old)
        if new in init_args and init_args[new] != value:
            raise CheckpointMigrationError(
                f"Checkpoint {source} saves model.{HOST_KEY}.init_args.{old}={value!r} and its new name "
                f"{new}={init_args[new]!r}; `{old}` was renamed `{new}`, so only one can be the trained value. "
                f"Delete the wrong one from the checkpoint's hyper_parameters, or use the run's original checkpoint."
            )
        init_args[new] = value
        notes.append(f"{old}={value!r} as {new}")
    return {**hyper_parameters, HOST_KEY: {**host, "init_args": init_args}}, notes


def migrate_checkpoint(checkpoint: dict[str, Any], source: str) -> dict[str, Any]:
    """Respell a loaded checkpoint's renamed hyper-parameters in place, saying so in one log line."""
    saved = checkpoint.get("hyper_parameters")
    if not isinstance(saved, dict):
        return checkpoint
    migrated, notes = migrate_hyper_parameters(saved, source)
    if notes:
        checkpoint["hyper_parameters"] = migrated
        rank_zero_info(
            f"Checkpoint {source} was saved with option names cpt has since renamed; read "
            f"model.{HOST_KEY}.init_args {', '.join(notes)}. The file is unchanged; checkpoints a fit writes "
            "from it use the new names."
        )
    return checkpoint


def with_old_names(model: dict[str, Any]) -> dict[str, Any] | None:
    """A model config as it was spelled before the renames (new names back to old), or None if none applies."""
    host = model.get(HOST_KEY)
    renames = {old: new for old, new in _renames_for(host).items() if new in host["init_args"]}
    if not renames:
        return None
    old_spelling = copy.deepcopy(model)
    init_args = old_spelling[HOST_KEY]["init_args"]
    for old, new in renames.items():
        init_args[old] = init_args.pop(new)
    return old_spelling
