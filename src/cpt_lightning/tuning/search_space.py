"""A method's search space as data: which config paths a trial sets, over which ranges.

A search-space YAML names the method, the method preset it starts from (a `--config` file of
`configs/methods/` with `model:` and `clusters:` sections) and its parameters:

    method: cpt
    preset: configs/methods/cpt.yaml
    params:
      lr: {path: model.optimizer.init_args.lr, type: float, low: 0.001, high: 0.05, log: true}
      epochs: {path: trainer.max_epochs, type: int, low: 4, high: 16}
      w_etf: {path: model.loss_terms.1.init_args.weight, type: float, low: 0.01, high: 10, log: true}
      etf_variant: {path: model.loss_terms.1.init_args.variant, type: categorical,
                    choices: [cluster_centred, cluster_uncentred]}

A path starts with a top-level section of a run config (`model`, `trainer`, `clusters`, `data`);
a number in it indexes a list (`loss_terms.1` is the preset's second term). A trial's values turn
into one `--config` file: the preset's sections with the values set, plus the other sections.
That same file, with the best values, is the tuned preset the study uses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

SECTIONS = ("model", "trainer", "clusters", "data")
ParamType = Literal["float", "int", "categorical"]


@dataclass
class ParamSpec:
    """One tuned knob: where it goes (`path`) and its range (`low`/`high`/`log`/`step`) or `choices`."""

    path: str
    type: ParamType
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)

    def check(self, name: str, source: str) -> None:
        """Raise a ValueError naming the parameter unless the spec is complete and consistent."""
        where = f"{source}: parameter {name!r}"
        if self.path.split(".")[0] not in SECTIONS:
            raise ValueError(f"{where} has path {self.path!r}; a path starts with one of {SECTIONS}.")
        if self.type == "categorical":
            if not self.choices:
                raise ValueError(f"{where} is categorical but lists no `choices`.")
            return
        if self.type not in ("float", "int"):
            raise ValueError(f"{where} has type {self.type!r}; use float, int or categorical.")
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{where} needs numbers low < high; got low={self.low}, high={self.high}.")
        if self.log and self.low <= 0:
            raise ValueError(f"{where} is log-scaled, so low must be > 0; got {self.low}.")

    def suggest(self, trial, name: str) -> Any:
        """The trial's value for this knob (Optuna's `suggest_*`, so TPE models it)."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log, step=self.step)


@dataclass
class SearchSpace:
    """A method's preset and its tuned knobs (see the module docstring for the YAML)."""

    method: str
    preset: str
    params: dict[str, ParamSpec]
    source: str = "<dict>"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> SearchSpace:
        known, required = {"method", "preset", "params"}, {"method", "preset", "params"}
        if set(data) - known or required - set(data):
            raise ValueError(
                f"{source}: a search space has keys {sorted(required)}; got unknown "
                f"{sorted(set(data) - known)}, missing {sorted(required - set(data))}."
            )
        params = {}
        for name, spec in data["params"].items():
            try:
                params[name] = ParamSpec(**spec)
            except TypeError as error:
                raise ValueError(
                    f"{source}: parameter {name!r}: {error}. Keys: path, type, low, high, log, step, choices."
                ) from error
            params[name].check(name, source)
        if not params:
            raise ValueError(f"{source}: `params` is empty; a search space tunes at least one knob.")
        return cls(method=str(data["method"]), preset=str(data["preset"]), params=params, source=source)

    def load_preset(self, root: Path) -> dict[str, Any]:
        """The method preset (run-config sections: `model`, `clusters`, ...) as a mapping, resolved against `root`."""
        path = Path(self.preset) if Path(self.preset).is_absolute() else root / self.preset
        if not path.is_file():
            raise FileNotFoundError(
                f"{self.source}: preset {path} does not exist; `preset` names a configs/methods file."
            )
        preset = yaml.safe_load(path.read_text()) or {}
        unknown = sorted(set(preset) - set(SECTIONS))
        if unknown:
            raise ValueError(
                f"{self.source}: preset {path} has top-level keys {unknown}; a method preset holds run-config "
                f"sections {list(SECTIONS)} (e.g. `model: {{loss_terms: [...]}}`), as configs/methods/*.yaml do."
            )
        return preset

    def config_for(self, preset: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """The run-config sections for one set of values (name -> value): the preset's, values set."""
        config: dict[str, Any] = copy.deepcopy(preset)
        for name, value in values.items():
            set_path(config, self.params[name].path, value, f"{self.source}: parameter {name!r}")
        return config

    def check_against(self, preset: dict[str, Any]) -> None:
        """Fail before any trial if a path indexes past the preset's lists (e.g. a missing loss term)."""
        probe = {name: spec.choices[0] if spec.choices else spec.low for name, spec in self.params.items()}
        self.config_for(preset, probe)


def set_path(config: dict[str, Any], path: str, value: Any, where: str) -> None:
    """Set `config[a][b][0][c] = value` for `path` "a.b.0.c", creating mappings but never list entries."""
    parts = path.split(".")
    node: Any = config
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(
                    f"{where}: path {path!r} indexes entry {part} of a list with {len(node)} entries; "
                    "fix the index to one of the preset's entries (counting from 0)."
                )
            key: Any = int(part)
        else:
            key = part
        if last:
            node[key] = value
            return
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict | list):
            raise ValueError(f"{where}: path {path!r} runs through {part!r}, which holds a value, not a mapping.")


def load_search_space(path: str | Path) -> SearchSpace:
    """Read and check one search-space YAML file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Search space {path} does not exist; the shipped ones are configs/tuning/*.yaml.")
    return SearchSpace.from_dict(yaml.safe_load(path.read_text()) or {}, source=str(path))
