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


def _source_copy(tmp_path: Path) -> Path:
    """What a clone holds of the package, copied: a build in the checkout would leave build/ and *.egg-info."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", symlinks=True, ignore=ignore)  # keeps the configs link
    shutil.copytree(ROOT / "configs", source / "configs")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    return source


def _venv(path: Path, env: dict) -> Path:
    """A fresh venv that sees this environment's packages (see the module docstring); its python."""
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], path.parent, env)
    python = path / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], path.parent, env)
    # Plain path lines: the outer environment's own .pth files (its editable install of the
    # checkout among them) are not processed, so `cpt_lightning` can only come from what is installed here.
    (Path(purelib.strip()) / "reuse_outer_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def _install(python: Path, env: dict, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    _run([*command, "--no-build-isolation", *args], python.parent, env)


def _env() -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONNOUSERSITE="1")
    return env


def _build_wheel(tmp_path: Path, env: dict) -> Path:
    source = _source_copy(tmp_path)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "wheels", "."]
    _run(pip_wheel, source, env)
    (wheel,) = (source / "wheels").glob("cpt_lightning-*.whl")
    return wheel


def test_the_wheel_works_outside_the_checkout(tmp_path):
    env = _env()
    wheel = _build_wheel(tmp_path, env)
    names = zipfile.ZipFile(wheel).namelist()
    checkout_configs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml"))
    assert sorted(n.removeprefix("cpt_lightning/") for n in names if n.startswith("cpt_lightning/configs/")) == (
        checkout_configs
    )
    assert "cpt_lightning/py.typed" in names and any(n.endswith("licenses/LICENSE") for n in names)

    venv = tmp_path / "venv"
    python = _venv(venv, env)
    _install(python, env, str(wheel))

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

    script = venv / "bin" / "cpt-reproduce"  # installed; the driver ran its entry point, as the script does
    assert os.access(script, os.X_OK) and "from cpt_lightning.reproduce.cli import main" in script.read_text()
    lines = report["reproduce_dry_run"]  # `cpt-reproduce cpt:world/protocol --dry-run --seeds 1`
    assert len(lines) == 5 * 5 * 3 and all(line.endswith(": to run") for line in lines)  # datasets x methods x tau


def test_an_editable_install_reads_the_presets_in_place(tmp_path):
    env = _env()
    source = _source_copy(tmp_path)
    python = _venv(tmp_path / "venv", env)
    _install(python, env, "-e", str(source))
    probe = "from cpt_lightning.presets import resolve_preset; print(resolve_preset('cpt:world/protocol'))"
    found = Path(_run([str(python), "-c", probe], tmp_path, env).strip())
    assert found.samefile(source / "configs" / "world" / "protocol.yaml")  # the checkout's file itself
