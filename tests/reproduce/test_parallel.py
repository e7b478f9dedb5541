"""`cpt-reproduce --jobs N` and `--slurm`: pinned device slots, the same table as one job, a valid job array."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cpt_lightning.reproduce.cli import main
from cpt_lightning.reproduce.parallel import DeviceSlot, device_slots, worker_start_method
from cpt_lightning.reproduce.protocols import load_protocol
from cpt_lightning.reproduce.runs import RESULTS_FILE, plan_runs
from cpt_lightning.reproduce.slurm import RUN_LIST
from tests.reproduce.test_runner import _protocol


def test_device_slots_split_gpus_or_cores_without_overlap():
    assert device_slots(2, ["0", "1", "2", "3"], [0, 1]) == [DeviceSlot(gpus=("0", "1")), DeviceSlot(gpus=("2", "3"))]
    assert device_slots(3, [], list(range(7))) == [DeviceSlot(cores=(0, 1)), DeviceSlot(cores=(2, 3)),
                                                    DeviceSlot(cores=(4, 5))]  # fmt: skip
    assert device_slots(3, [], [4, 5]) == [DeviceSlot(cores=(4,)), DeviceSlot(cores=(5,)), DeviceSlot(cores=(4,))]
    with pytest.raises(ValueError, match="2 GPU\\(s\\) are visible"):
        device_slots(3, ["0", "1"], [0, 1])
    with pytest.raises(ValueError, match=">= 1"):
        device_slots(0, [], [0])

def test_workers_fork_only_on_cpu_cores_under_linux(monkeypatch):
    cpu, gpu = [DeviceSlot(cores=(0,)), DeviceSlot(cores=(1,))], [DeviceSlot(gpus=("0",)), DeviceSlot(gpus=("1",))]
    monkeypatch.setattr("sys.platform", "linux")
    assert worker_start_method(cpu) == "fork" and worker_start_method(gpu) == "spawn"
    monkeypatch.setattr("sys.platform", "darwin")
    assert worker_start_method(cpu) == "spawn"


def _one_dataset(tmp_path: Path, tiny_clip_dir: Path) -> str:
    path = Path(_protocol(tmp_path, tiny_clip_dir))
    protocol = yaml.safe_load(path.read_text())
    protocol["datasets"] = {"animals": protocol["datasets"]["animals"]}
    protocol["seeds"] = [1]  # zero-shot and CoOp: two runs, one that trains
    path.write_text(yaml.safe_dump(protocol))
    return str(path)


@pytest.mark.slow
def test_two_jobs_finish_the_same_runs_with_the_same_table_as_one(tiny_clip_dir, tmp_path):
    protocol = _one_dataset(tmp_path, tiny_clip_dir)
    tables = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        assert main([protocol, "--out", str(out), "--in-process", "--jobs", str(jobs)]) == 0
        runs = sorted(path.parent.relative_to(out) for path in out.rglob(RESULTS_FILE))
        tables[jobs] = (runs, (out / "tiny_b2n" / "table.csv").read_text())
    assert len(tables[1][0]) == 2  # zeroshot and coop
    assert tables[2] == tables[1]

    # A killed run (no results.json) is the only one the next invocation runs.
    out = tmp_path / "jobs2" / "tiny_b2n"
    killed = out / "default" / "animals" / "coop" / "seed1"
    (killed / RESULTS_FILE).unlink()
    kept = {path: path.stat().st_mtime_ns for path in out.rglob(RESULTS_FILE)}
    assert main([protocol, "--out", str(tmp_path / "jobs2"), "--in-process", "--jobs", "2"]) == 0
    assert (killed / RESULTS_FILE).is_file()
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in kept.items())
    assert (out / "table.csv").read_text() == tables[1][1]


def test_the_slurm_array_has_one_task_per_unfinished_run_and_writes_where_the_table_reads(tiny_clip_dir, tmp_path):
    protocol = _protocol(tmp_path, tiny_clip_dir)
    out = tmp_path / "runs"
    specs = plan_runs(load_protocol(protocol), Path("."))
    finished = out / "tiny_b2n" / specs[0].run_id  # pretend the first run finished
    finished.mkdir(parents=True)
    (finished / RESULTS_FILE).write_text(json.dumps({"spec": specs[0].to_dict(), "tests": {}}))
    script = tmp_path / "array.sh"
    assert main([protocol, "--out", str(out), "--slurm", str(script), "--sbatch=--gres=gpu:1"]) == 0

    text = script.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert re.search(r"^#SBATCH --array=0-6$", text, re.M)  # 8 runs, 1 finished: tasks 0..6
    assert re.search(r"^#SBATCH --gres=gpu:1$", text, re.M)
    assert re.search(r"-m cpt_lightning\.reproduce\.single_run \"\$SPEC\" \"\$RUN_DIR\"$", text, re.M)
    lines = (out / "tiny_b2n" / RUN_LIST).read_text().splitlines()
    assert len(lines) == 7
    run_dirs = []
    for line, spec in zip(lines, specs[1:], strict=True):  # task i = line i + 1 = the i-th unfinished run
        spec_file, run_dir = line.split("\t")
        assert json.loads(Path(spec_file).read_text()) == spec.to_dict()
        assert Path(run_dir) == (out / "tiny_b2n" / spec.run_id).resolve()
        run_dirs.append(run_dir)
    assert len(set(run_dirs)) == 7


@pytest.mark.slow
def test_a_slurm_task_runs_its_line_and_the_table_sees_it(tiny_clip_dir, tmp_path):
    protocol = _one_dataset(tmp_path, tiny_clip_dir)
    out = tmp_path / "runs"
    script = tmp_path / "array.sh"
    assert main([protocol, "--out", str(out), "--slurm", str(script)]) == 0
    bash = shutil.which("bash")
    assert bash is not None
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "1"}
    subprocess.run([bash, str(script)], check=True, env=env)
    finished = sorted(path.parent.relative_to(out / "tiny_b2n") for path in out.rglob(RESULTS_FILE))
    second = plan_runs(load_protocol(protocol), Path("."))[1]
    assert finished == [Path(second.run_id)]
    assert main([protocol, "--out", str(out), "--table-only"]) == 0
    assert second.method in (out / "tiny_b2n" / "table.md").read_text()
