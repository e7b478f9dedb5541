"""`cpt-reproduce --slurm SCRIPT`: a SLURM job array with one protocol run per task, instead of running.

Each unfinished run's spec is written to `<run_dir>/spec.json` and listed, one per line, in
`<out>/slurm_runs.tsv` (`spec file<TAB>run folder`). Array task i runs line i + 1 with
`python -m cpt_lightning.reproduce.single_run`, the same code as a local run, so every run writes
`<out>/<run_id>/results.json` and `cpt-reproduce ... --table-only` builds the same table. Submitting
the script again after some tasks failed or were killed: emit it again first, so that it lists only
the runs still unfinished.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from cpt_lightning.reproduce.runs import RunSpec, write_json_atomically

RUN_LIST = "slurm_runs.tsv"


def write_slurm_array(
    specs: list[tuple[RunSpec, Path]], out_dir: Path, script: Path, sbatch_options: list[str] | None = None
) -> Path:
    """Write the run list and the array script for `specs` (unfinished runs); return the script's path."""
    if not specs:
        raise ValueError(f"Every run under {out_dir} is finished: there is nothing to submit.")
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for spec, run_dir in specs:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomically(run_dir / "spec.json", spec.to_dict())
        lines.append(f"{(run_dir / 'spec.json').resolve()}\t{run_dir.resolve()}")
    run_list = (out_dir / RUN_LIST).resolve()
    run_list.write_text("\n".join(lines) + "\n")
    logs = (out_dir / "slurm_logs").resolve()
    logs.mkdir(exist_ok=True)
    name = specs[0][0].protocol
    options = [f"#SBATCH {option}" for option in sbatch_options or []]
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "\n".join(
            [
                "#!/bin/bash",
                f"#SBATCH --job-name=cpt-{name}",
                f"#SBATCH --array=0-{len(specs) - 1}",
                f"#SBATCH --output={logs}/%A_%a.log",
                *options,
                f"# One run of protocol {name!r} per array task ({len(specs)} runs); each writes",
                f"# {out_dir.resolve()}/<run>/results.json. Table afterwards: cpt-reproduce ... --table-only",
                "set -euo pipefail",
                f'LINE=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(str(run_list))})',
                "SPEC=$(printf '%s' \"$LINE\" | cut -f1)",
                "RUN_DIR=$(printf '%s' \"$LINE\" | cut -f2)",
                f'exec {shlex.quote(sys.executable)} -m cpt_lightning.reproduce.single_run "$SPEC" "$RUN_DIR"',
                "",
            ]
        )
    )
    script.chmod(0o755)
    return script
