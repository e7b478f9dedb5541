"""Plain-data descriptions of injected factories, so checkpoints load with `weights_only=True`.

LightningCLI already stores the YAML's `class_path` / `init_args`; a module
built in Python holds class or function objects instead, which `torch.load`'s
safe unpickler refuses. These helpers turn such objects into the same
`{"class_path", "init_args"}` form on save and back into callables on load.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any


def describe_factory(factory: Any) -> Any:
    """A class, function or `functools.partial` as `{"class_path", "init_args"}`; anything else unchanged."""
    if isinstance(factory, functools.partial) and not factory.args:
        return {"class_path": _dotted_path(factory.func), "init_args": dict(factory.keywords)}
    importable = isinstance(factory, type) or callable(factory) and hasattr(factory, "__qualname__")
    if importable and "<" not in factory.__qualname__:  # lambdas and local functions cannot be re-imported
        return {"class_path": _dotted_path(factory)}
    return factory


def resolve_factory(spec: Any) -> Callable | None:
    """The inverse of `describe_factory`: a callable (or None) from a spec, a callable or None."""
    if not isinstance(spec, dict):
        return spec
    if "class_path" not in spec:
        raise ValueError(f"A factory given as a dict needs a 'class_path' key; got keys {sorted(spec)}.")
    module_name, _, attribute = spec["class_path"].rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ImportError(f"Cannot import {spec['class_path']!r}: {error}. Check the class_path.") from error
    init_args = spec.get("init_args") or {}
    return functools.partial(target, **init_args) if init_args else target


def _dotted_path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"
