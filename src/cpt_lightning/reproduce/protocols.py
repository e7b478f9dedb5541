"""The field's evaluation protocols as data: which datasets, seeds, methods and settings a study runs.

A protocol is a mapping (YAML or dict) with:

- `name`: the protocol's name (the output folder).
- `datasets`: name -> run config (`configs/<benchmark>.yaml`: trainer, model and data); every run
  fits on it (unless the method does not train) and tests it.
- `methods`: name -> `{"configs": [entries], "fit": bool}` (or just the list of entries; fit
  defaults to true). An entry is a `--config` file, or a one-key mapping `{section: file}` passed
  as `--<section> file` (`{model: configs/hosts/ivlp.yaml}`), applied after the dataset's config;
  a method preset (`configs/methods/cpt.yaml`) is a `--config` file.
  `fit: false` tests the model as configured (zero-shot CLIP).
- `seeds`: each run's seed: `seed_everything` and, for training data, `data.init_args.seed`.
- `settings`: name -> CLI overrides (`{"data.init_args.tau": 0.25}`), one grid axis (default one
  setting, "default", without overrides).
- `transfer`: target name -> run config, tested with every trained run's prompts (cross-dataset,
  domain generalisation); overrides of `data.*` do not apply to targets.
- `configs`, `overrides`: entries applied after the method's (e.g. `{trainer: configs/trainer/cpu.yaml}`),
  and overrides applied last, to every run.

Relative config paths are resolved against the runner's `--root` (the working directory by default);
a `configs/...` path that does not exist there is the package's preset of that name
(`cpt_lightning.presets`), so the built-in protocols run from an installed wheel without a checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cpt_lightning.presets import PRESET_PREFIX, resolve_preset

ConfigEntry = str | dict[str, str]  # a `--config` file, or {section: file} for `--<section> file`

COOP_DATASETS = (
    "imagenet",
    "caltech101",
    "oxford_pets",
    "stanford_cars",
    "flowers102",
    "food101",
    "fgvc_aircraft",
    "sun397",
    "dtd",
    "eurosat",
    "ucf101",
)
IMAGENET_SHIFTS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")
SEEDS = (1, 2, 3)


@dataclass
class MethodSpec:
    """A method: its config entries (after the dataset's run config) and whether it trains."""

    configs: list[ConfigEntry]
    fit: bool = True


@dataclass
class Protocol:
    """A grid of runs: datasets x settings x methods x seeds, plus transfer targets (see module doc)."""

    name: str
    datasets: dict[str, ConfigEntry]
    methods: dict[str, MethodSpec]
    seeds: list[int] = field(default_factory=lambda: list(SEEDS))
    settings: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    transfer: dict[str, ConfigEntry] = field(default_factory=dict)
    configs: list[ConfigEntry] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        """Build a protocol from its mapping; a method may be given as a plain list of configs."""
        known = {"name", "datasets", "methods", "seeds", "settings", "transfer", "configs", "overrides"}
        unknown = set(data) - known
        missing = {"name", "datasets", "methods"} - set(data)
        if unknown or missing:
            raise ValueError(
                f"A protocol needs keys name, datasets and methods and may have {sorted(known)}; "
                f"got unknown {sorted(unknown)}, missing {sorted(missing)}."
            )
        methods = {
            name: MethodSpec(configs=list(spec)) if isinstance(spec, list | tuple) else MethodSpec(**spec)
            for name, spec in data["methods"].items()
        }
        return cls(**{**data, "methods": methods})

    def select(
        self,
        datasets: list[str] | None = None,
        methods: list[str] | None = None,
        seeds: list[int] | None = None,
        settings: list[str] | None = None,
    ) -> Protocol:
        """The same protocol restricted to the named datasets / methods / seeds / settings."""

        def pick(mapping: dict, names: list[str] | None, what: str) -> dict:
            if names is None:
                return mapping
            unknown = [name for name in names if name not in mapping]
            if unknown:
                raise ValueError(f"Protocol {self.name!r} has no {what} {unknown}; it has {list(mapping)}.")
            return {name: mapping[name] for name in names}

        return Protocol(
            name=self.name,
            datasets=pick(self.datasets, datasets, "datasets"),
            methods=pick(self.methods, methods, "methods"),
            seeds=list(seeds) if seeds is not None else self.seeds,
            settings=pick(self.settings, settings, "settings"),
            transfer=self.transfer,
            configs=self.configs,
            overrides=self.overrides,
        )


def default_methods() -> dict[str, MethodSpec]:
    """The method presets in `configs/methods/` (zero-shot CLIP is evaluated, not trained)."""
    methods = {"zeroshot": MethodSpec(["configs/methods/zeroshot.yaml"], fit=False)}
    for name in ("coop", "kgcoop", "npt", "cpt"):
        methods[name] = MethodSpec([f"configs/methods/{name}.yaml"])
    return methods


def builtin_protocols() -> dict[str, Protocol]:
    """Base-to-new (tau 1 / 0.25 / 0.06), few-shot (1-16 shots), cross-dataset and domain generalisation."""
    return {
        "base_to_new": Protocol(
            name="base_to_new",
            datasets={name: f"configs/{name}_b2n.yaml" for name in COOP_DATASETS},
            methods=default_methods(),
            settings={f"tau={tau}": {"data.init_args.tau": tau} for tau in (1.0, 0.25, 0.06)},
        ),
        "few_shot": Protocol(
            name="few_shot",
            datasets={name: f"configs/{name}.yaml" for name in COOP_DATASETS},
            methods=default_methods(),
            settings={f"{shots}-shot": {"data.init_args.shots": shots} for shots in (1, 2, 4, 8, 16)},
        ),
        "cross_dataset": Protocol(
            name="cross_dataset",
            datasets={"imagenet": "configs/imagenet.yaml"},
            methods=default_methods(),
            transfer={name: f"configs/{name}.yaml" for name in COOP_DATASETS if name != "imagenet"},
        ),
        "domain_generalization": Protocol(
            name="domain_generalization",
            datasets={"imagenet": "configs/imagenet.yaml"},
            methods=default_methods(),
            transfer={name: f"configs/{name}.yaml" for name in IMAGENET_SHIFTS},
        ),
    }


def load_protocol(name_or_path: str) -> Protocol:
    """A built-in protocol by name, a protocol YAML file, or a packaged one (`cpt:world/protocol`)."""
    builtin = builtin_protocols()
    if name_or_path in builtin:
        return builtin[name_or_path]
    path = resolve_preset(name_or_path) if name_or_path.startswith(PRESET_PREFIX) else Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name_or_path!r} is neither a built-in protocol ({', '.join(builtin)}) nor a protocol YAML file."
        )
    return Protocol.from_dict(yaml.safe_load(path.read_text()))
