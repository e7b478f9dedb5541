"""Config-file and seed checks that run before LightningCLI parses, so their errors name the file or key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

YAML_SUFFIXES = (".yaml", ".yml")
MAX_SEED = 2**32 - 1  # numpy's and Lightning's seed range


class ConfigFileError(ValueError):
    """A config file given on the command line is not valid YAML."""


def _file_arguments(args: Sequence[str]) -> list[Path]:
    values = [arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg for arg in args]
    return [Path(value) for value in values if value.endswith(YAML_SUFFIXES) and Path(value).is_file()]


def check_yaml_files(args: Sequence[str]) -> None:
    """Parse every YAML file named in `args` (`--config`, `--model`, `--data`, ...) and name the broken one.

    jsonargparse reports a syntax error as `in "<unicode string>", line N`, without the file.
    """
    for path in _file_arguments(args):
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error)
            context = getattr(error, "context", None)
            raise ConfigFileError(
                f"Config file {path} is not valid YAML{where}: {problem}"
                + (f" ({context})" if context else "")
                + ". Fix the syntax there (an unclosed bracket or quote, a tab in the indentation, a missing "
                "space after `:`), e.g. by checking it with `python -c \"import yaml; yaml.safe_load(open('"
                f"{path}'))\"`."
            ) from error


def check_seed(seed: object, key: str = "seed_everything") -> None:
    """A seed must be a bool (Lightning: pick one / do not seed) or an integer in numpy's range."""
    if isinstance(seed, bool) or seed is None:
        return
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(
            f"`{key}` must be an integer from 0 to {MAX_SEED} (or true to draw one, false for none); got {seed!r}."
        )
