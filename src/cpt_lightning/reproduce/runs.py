"""One run of a protocol: its CLI arguments, in-process or subprocess execution, and the results marker.

A run fits (if its method trains) and tests on its dataset, then tests the trained prompts on
every transfer target. It ends by writing `results.json` atomically (temporary file +
`os.replace`): a run directory with that file, written for the same spec, is finished and skipped.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cpt_lightning.atomic_write import atomic_write
from cpt_lightning.presets import PRESET_PREFIX, packaged_config, resolve_preset
from cpt_lightning.process_cache import process_cache
from cpt_lightning.reproduce.protocols import ConfigEntry, Protocol

RESULTS_FILE = "results.json"
TRAINING_SEED_KEY = "data.init_args.seed"


@dataclass
class RunSpec:
    """Everything that defines one run; `results.json` stores it so that a changed spec is re-run."""

    protocol: str
    setting: str
    dataset: str
    method: str
    seed: int
    fit: bool
    configs: list[list[str]]  # [flag, file]: the dataset's run config, the method's entries, the common ones
    overrides: dict[str, Any]
    transfer: dict[str, list[list[str]]] = field(default_factory=dict)  # target -> its [flag, file] pairs

    @property
    def run_id(self) -> str:
        """The run's folder below the protocol's output folder."""
        return f"{self.setting}/{self.dataset}/{self.method}/seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resolve(path: str, root: Path) -> str:
    """A config file: absolute as given; `cpt:NAME` a preset; `configs/...` under `root`, else the packaged preset."""
    if Path(path).is_absolute():
        return path
    if path.startswith(PRESET_PREFIX):
        return str(resolve_preset(path))
    candidate = root / path
    packaged = None if candidate.exists() else packaged_config(path)
    return str(packaged if packaged is not None else candidate)


def _flag_and_file(entry: ConfigEntry, root: Path) -> list[str]:
    """`["--config", file]` for a plain file, `["--<section>", file]` for `{section: file}`."""
    if isinstance(entry, str):
        return ["--config", _resolve(entry, root)]
    if len(entry) != 1:
        raise ValueError(f"A config entry is a file or one {{section: file}} mapping; got {entry!r}.")
    ((section, path),) = entry.items()
    return [f"--{section}", _resolve(path, root)]


def plan_runs(protocol: Protocol, root: Path) -> list[RunSpec]:
    """Every run of the protocol, in a stable order (setting, dataset, method, seed)."""
    runs = []
    for setting, setting_overrides in protocol.settings.items():
        for dataset, data_config in protocol.datasets.items():
            for method, spec in protocol.methods.items():
                after = [_flag_and_file(entry, root) for entry in [*spec.configs, *protocol.configs]]
                transfer = {
                    target: [_flag_and_file(config, root), *after] for target, config in protocol.transfer.items()
                }
                for seed in protocol.seeds:
                    runs.append(
                        RunSpec(
                            protocol=protocol.name,
                            setting=setting,
                            dataset=dataset,
                            method=method,
                            seed=seed,
                            fit=spec.fit,
                            configs=[_flag_and_file(data_config, root), *after],
                            overrides={**protocol.overrides, **setting_overrides, TRAINING_SEED_KEY: seed},
                            transfer=transfer,
                        )
                    )
    return runs


def _with_placeholders(value: Any, run_dir: Path) -> Any:
    """`value` with every "{run_dir}" in its strings (at any depth) replaced by the run's folder."""
    if isinstance(value, str):
        return value.replace("{run_dir}", str(run_dir))
    if isinstance(value, dict):
        return {key: _with_placeholders(item, run_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_placeholders(item, run_dir) for item in value]
    return value


def cli_args(configs: list[list[str]], overrides: dict[str, Any], seed: int, run_dir: Path) -> list[str]:
    """CLI arguments: the `[flag, file]` pairs in order, then `--key=value` overrides ("{run_dir}" expanded)."""
    args = [part for pair in configs for part in pair]
    values = {**overrides, "seed_everything": seed, "trainer.default_root_dir": str(run_dir)}
    for key, value in values.items():
        value = _with_placeholders(value, run_dir)
        args.append(f"--{key}={value if isinstance(value, str) else json.dumps(value)}")
    return args


def is_finished(spec: RunSpec, run_dir: Path) -> bool:
    """A run is finished when its `results.json` parses and was written for this very spec."""
    try:
        return json.loads((run_dir / RESULTS_FILE).read_text())["spec"] == spec.to_dict()
    except (OSError, ValueError, KeyError):
        return False


def write_json_atomically(path: Path, content: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside `path` and move it into place: readers see all or nothing."""
    with atomic_write(path, "w") as stream:
        json.dump(content, stream, indent=2, sort_keys=True)


def _test_metrics(trainer) -> dict[str, float]:
    return {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("test/")}


def _finish_wandb_run() -> None:
    # In one process a later WandbLogger would reuse the still-open run: close it, as a process exit would.
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def execute_run(spec: RunSpec, run_dir: Path) -> dict[str, Any]:
    """Fit (if the method trains) and test in this process, test every transfer target, write `results.json`."""
    from cpt_lightning.cli import main

    run_dir.mkdir(parents=True, exist_ok=True)
    cli = main(cli_args(spec.configs, spec.overrides, spec.seed, run_dir), run=False)
    checkpoint = None
    if spec.fit:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        checkpoint = run_dir / "prompts.ckpt"  # the last epoch's prompts, as CoOp evaluates
        cli.trainer.save_checkpoint(checkpoint)
    cli.trainer.test(cli.model, datamodule=cli.datamodule)
    tests = {spec.dataset: _test_metrics(cli.trainer)}
    _finish_wandb_run()
    # Targets are test-only: their data modules take no training overrides (shots, tau, seed).
    target_overrides = {key: value for key, value in spec.overrides.items() if not key.startswith("data.")}
    for target, configs in spec.transfer.items():
        target_cli = main(cli_args(configs, target_overrides, spec.seed, run_dir / target), run=False)
        target_cli.trainer.test(target_cli.model, datamodule=target_cli.datamodule, ckpt_path=checkpoint)
        tests[target] = _test_metrics(target_cli.trainer)
        _finish_wandb_run()
    results = {"spec": spec.to_dict(), "tests": tests}
    if cli.trainer.is_global_zero:
        write_json_atomically(run_dir / RESULTS_FILE, results)
    return results


def execute_run_in_subprocess(spec: RunSpec, run_dir: Path) -> None:
    """Run `python -m cpt_lightning.reproduce.single_run` on the spec (isolation; required for DDP)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file = run_dir / "spec.json"
    write_json_atomically(spec_file, spec.to_dict())
    command = [sys.executable, "-m", "cpt_lightning.reproduce.single_run", str(spec_file), str(run_dir)]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"Run {spec.run_id} failed (exit code {completed.returncode}); its logs are in {run_dir}. "
            f"Re-run it alone with: {' '.join(command)}"
        )


def missing_config_files(specs: list[RunSpec]) -> list[str]:
    """Config files the runs name that do not exist (e.g. tuned presets not written yet)."""
    named = {file for spec in specs for pairs in [spec.configs, *spec.transfer.values()] for _, file in pairs}
    return sorted(file for file in named if not Path(file).is_file())


def unfinished_runs(protocol: Protocol, out_dir: Path, root: Path = Path(".")) -> tuple[list[RunSpec], list[RunSpec]]:
    """(unfinished, finished) runs of `protocol` under `out_dir`, in plan order.

    Every config file the runs name must exist (checked before any run starts or is listed)."""
    specs = plan_runs(protocol, root)
    missing = missing_config_files(specs)
    if missing:
        raise FileNotFoundError(
            f"Protocol {protocol.name!r} names config files that exist neither under --root {root} nor among the "
            f"packaged presets: {missing}. Create them first (tuned presets: cpt-tune --out <their folder>, see "
            "configs/study/README.md), fix the paths, or pass --root (the folder that holds configs/)."
        )
    unfinished, finished = [], []
    for spec in specs:
        (finished if is_finished(spec, out_dir / spec.run_id) else unfinished).append(spec)
    return unfinished, finished


def run_protocol(
    protocol: Protocol, out_dir: Path, root: Path = Path("."), in_process: bool = False, jobs: int = 1
) -> tuple[list[RunSpec], list[RunSpec]]:
    """Execute every unfinished run of `protocol` under `out_dir`; return (executed, skipped).

    Every config file the runs name must exist before the first run starts. In one process
    (`in_process`), the frozen CLIP, tokenised class lists, zero-shot text features and cached
    evaluation features are built once and shared by every run (`process_cache`). `jobs > 1` runs
    that many at once, each pinned to its own GPUs or CPU cores (`reproduce.parallel`).
    """
    unfinished, skipped = unfinished_runs(protocol, out_dir, root)
    if jobs > 1:
        from cpt_lightning.reproduce.parallel import run_in_pool

        run_one = execute_run if in_process else execute_run_in_subprocess
        return run_in_pool([(spec, out_dir / spec.run_id) for spec in unfinished], jobs, run_one), skipped
    with process_cache() if in_process else contextlib.nullcontext():
        for spec in unfinished:
            if in_process:
                execute_run(spec, out_dir / spec.run_id)
            else:
                execute_run_in_subprocess(spec, out_dir / spec.run_id)
    return unfinished, skipped
