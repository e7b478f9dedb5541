"""The built wheel, installed in a fresh venv outside the checkout: presets, fit, predict, export, reproduce.

The venv reuses this environment's torch & co. (a `.pth` line naming its site-packages, since this
environment is itself a venv and `--system-site-packages` would reach only the base Python) and
installs nothing but the wheel, so the test runs offline. The driver blocks `wandb` and `datasets`:
the core works without the optional extras.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..test_export import readme_export_snippet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("wheel_driver.py")


def _run(command: list, cwd: Path, env: dict) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def _build_wheel(tmp_path: Path, env: dict) -> Path:
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "configs", source / "configs")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "wheels", "."]
    _run(pip_wheel, source, env)
    (wheel,) = (source / "wheels").glob("cpt_lightning-*.whl")
    return wheel


def test_the_wheel_works_outside_the_checkout(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONNOUSERSITE="1")
    wheel = _build_wheel(tmp_path, env)
    names = zipfile.ZipFile(wheel).namelist()
    checkout_configs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml"))
    assert sorted(n.removeprefix("cpt_lightning/") for n in names if n.startswith("cpt_lightning/configs/")) == (
        checkout_configs
    )
    assert "cpt_lightning/py.typed" in names and any(n.endswith("licenses/LICENSE") for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env)
    reused = [path for path in site.getsitepackages() if not path.startswith(str(ROOT))]
    (Path(purelib.strip()) / "reuse_outer_env.pth").write_text("\n".join(reused) + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    _run([*install, str(wheel)], tmp_path, env)

    work = tmp_path / "work"
    work.mkdir()
    (work / "snippet.py").write_text(readme_export_snippet())
    output = _run([str(python), str(DRIVER), "snippet.py"], work, env)
    report = json.loads(output.split("REPORT ", 1)[1])
    assert report["package"].startswith(str(venv))  # the wheel's copy, not the checkout
    assert report["extras_blocked"]
    header, *rows = report["predictions"]
    assert header.startswith("path,set,label,class_1,probability_1") and len(rows) == 3
    assert all(row.split(",")[0].startswith("new_images/") for row in rows)
    assert report["snippet_max_error"] < 1e-5

    dry_run = _run([str(venv / "bin" / "cpt-reproduce"), "cpt:world/protocol", "--dry-run", "--seeds", "1"], work, env)
    lines = dry_run.splitlines()
    assert len(lines) == 5 * 5 * 3 and all(line.endswith(": to run") for line in lines)  # datasets x methods x tau
