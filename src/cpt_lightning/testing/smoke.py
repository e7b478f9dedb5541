"""A run at smoke size: the overrides that make any `cpt` run or protocol run finish in seconds on a CPU.

One training step, one batch of each evaluation, no sanity validation or progress bar, and, for a data
module that renders its image pools (the worlds), one image per class in each pool. The documented-commands
test, `cpt-reproduce` runs in tests and the benchmarks' `--smoke` read them from here.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from cpt_lightning.presets import PRESET_PREFIX, resolve_preset

SMOKE_TRAINER: dict[str, Any] = {
    "trainer.max_steps": 1,
    "trainer.limit_val_batches": 1,
    "trainer.limit_test_batches": 1,
    "trainer.num_sanity_val_steps": 0,
    "trainer.enable_progress_bar": False,
}
# A smoke fit whose validation score is its result (a `cpt-tune` trial) runs one whole epoch instead: a fit
# stopped by `max_steps` mid-epoch never validates. With the smoke pools an epoch is a few steps.
SMOKE_VALIDATED_FIT: dict[str, Any] = {"trainer.max_steps": -1, "trainer.max_epochs": 1}
# Pool sizes of a data module that renders its images; `shots` must fit the training pool.
SMOKE_POOLS: dict[str, Any] = {"train_pool_per_class": 1, "val_pool_per_class": 1, "test_per_class": 1, "shots": 1}


def _init_parameters(class_path: str) -> set[str]:
    """The `__init__` parameters of a class and of the classes it passes `**kwargs` on to (its MRO)."""
    module, name = class_path.rsplit(".", 1)
    names: set[str] = set()
    for klass in getattr(importlib.import_module(module), name).__mro__:
        if "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters) - {"self", "args", "kwargs"}
    return names


def accepts(class_path: str, argument: str) -> bool:
    """Whether the class (a `module.Class` path) takes `argument` in its `__init__` or a parent's."""
    return argument in _init_parameters(class_path)


def smoke_overrides(*data_classes: str | None) -> dict[str, Any]:
    """`{dotted key: value}` for a run at smoke size (`cpt-reproduce --override KEY=VALUE`, `cpt --KEY VALUE`).

    `data_classes`: the data modules the overrides must suit (a protocol's datasets); the pool sizes are
    set only when every one of them renders pools (takes `train_pool_per_class`)."""
    overrides = dict(SMOKE_TRAINER)
    known = [c for c in data_classes if c is not None]
    if known and all(accepts(c, "train_pool_per_class") for c in known):
        overrides |= {f"data.init_args.{key}": value for key, value in SMOKE_POOLS.items()}
    return overrides


def data_class_of(args: list[str], cwd: Path) -> str | None:
    """The data module class path a `cpt` command line configures: the last `--config` / `--data` file (a path
    relative to `cwd` or a `cpt:` preset) or `--data` class path that names one; None when none does."""
    found = None
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "--data" and re.fullmatch(r"[\w.]+\.[A-Z]\w*", value):
            found = value
            continue
        is_file = value.endswith((".yaml", ".yml")) or value.startswith(PRESET_PREFIX)
        if flag not in ("--config", "--data") or not is_file:
            continue
        path = resolve_preset(value) if value.startswith(PRESET_PREFIX) else (cwd / value).resolve()
        content = yaml.safe_load(path.read_text()) or {}
        data = content if flag == "--data" else content.get("data")
        if isinstance(data, str):  # `data: ../data/x.yaml`, relative to the file that names it
            data = yaml.safe_load((path.parent / data).read_text())
        if isinstance(data, dict) and "class_path" in data:
            found = data["class_path"]
    return found


def smoke_overrides_for_runs(specs: Iterable[Any]) -> dict[str, Any]:
    """`smoke_overrides` suited to every one of a protocol's planned runs (`reproduce.runs.RunSpec`s, whose
    `configs` are `[flag, file]` pairs)."""
    return smoke_overrides(
        *{data_class_of([word for pair in spec.configs for word in pair], Path.cwd()) for spec in specs}
    )
