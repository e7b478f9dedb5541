"""Optional dependencies: import one, or say which `pip install "cpt-lightning[extra]"` provides it."""

from __future__ import annotations

import importlib
from types import ModuleType

# module -> the extra of pyproject.toml that installs it
EXTRAS = {"wandb": "wandb", "datasets": "hf", "matplotlib": "notebook"}


class MissingExtraError(ImportError):
    """A feature needs an optional dependency that is not installed."""


def require_extra(module: str, feature: str) -> ModuleType:
    """Import `module` for `feature`, or raise an error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = EXTRAS.get(module, module)
        raise MissingExtraError(
            f"{feature} needs the optional dependency {module!r}, which is not installed. "
            f'Install it with: pip install "cpt-lightning[{extra}]"'
        ) from error
