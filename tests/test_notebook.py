"""notebooks/etf_geometry.ipynb: committed without outputs, runs top to bottom, and its numbers are the run's log.

The notebook runs in a kernel of *this* interpreter (a kernelspec written for `sys.executable`), trains
its demo checkpoint into a temporary directory, and writes what it recomputed to a JSON file; the test
reads the training's CSV log itself and compares.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the `dev` extra (nbformat, nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the `dev` extra (nbformat, nbclient)")
pytest.importorskip("ipykernel", reason="the notebook test needs the `dev` extra (ipykernel)")

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "etf_geometry.ipynb"
KERNEL_NAME = "cpt-lightning-test"
TIME_LIMIT_S = 180
# What the training logs after each validation epoch, and the notebook recomputes from the checkpoint.
COMPARED = (
    "val/etf_deviation_cluster",
    "val/etf_deviation_global_centred",
    "val/intra_cluster_cosine_mean",
    "val/intra_cluster_cosine_std",
    "val/base/nc1",
    "val/new/nc1",
    "val/base/acc",
    "val/new/acc",
    "val/hm",
)


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], f"strip the outputs of cell {cell.source[:40]!r} before committing"
        assert cell.execution_count is None, f"clear the execution count of cell {cell.source[:40]!r}"
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code_cells) == 1


def _kernel_for_this_interpreter(directory: Path) -> None:
    """A kernelspec running ipykernel under `sys.executable`, found first through JUPYTER_PATH."""
    spec_dir = directory / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cpt_lightning tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def _last_logged_validation(metrics_csv: Path) -> dict[str, float]:
    """The last epoch's `val/...` values of a CSVLogger file (an epoch spreads over several rows)."""
    by_epoch: dict[int, dict[str, float]] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            values = {k: float(v) for k, v in row.items() if k.startswith("val/") and v}
            if values:
                by_epoch.setdefault(int(row["epoch"]), {}).update(values)
    return by_epoch[max(by_epoch)]


def _png_arrays(notebook) -> list:
    import matplotlib.image

    return [
        matplotlib.image.imread(io.BytesIO(base64.b64decode(output["data"]["image/png"])), format="png")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


@pytest.mark.slow
def test_notebook_runs_and_matches_the_training_log(tmp_path, monkeypatch):
    _kernel_for_this_interpreter(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # The kernel imports cpt_lightning from this checkout, installed (editable) or not.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    work_dir, metrics_json = tmp_path / "run", tmp_path / "numbers.json"

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    position = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    injected = f"WORK_DIR = {str(work_dir)!r}\nMETRICS_JSON = {str(metrics_json)!r}"
    notebook.cells.insert(position + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected"]}))

    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=TIME_LIMIT_S,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    started = time.monotonic()
    client.execute()
    elapsed = time.monotonic() - started
    assert elapsed < TIME_LIMIT_S, f"the notebook took {elapsed:.0f} s; it must run in under {TIME_LIMIT_S} s"

    figures = _png_arrays(notebook)
    assert len(figures) == 5, f"expected the 5 figures, found {len(figures)} image/png outputs"
    for figure in figures:
        assert figure.shape[0] > 100 and figure.shape[1] > 100
        assert figure[..., :3].std() > 0.05, "a figure is blank (a single colour)"

    record = json.loads(metrics_json.read_text())
    recomputed = record["recomputed"]["tuned"]
    metrics_csv = next(work_dir.glob("csv/version_*/metrics.csv"))
    logged = _last_logged_validation(metrics_csv)
    assert Path(record["checkpoint"]) == metrics_csv.parent / "checkpoints" / "last.ckpt"
    for key in COMPARED:
        # The same prototypes and images through the same metrics; only float32 logging may round.
        assert recomputed[key] == pytest.approx(logged[key], rel=1e-6, abs=1e-9), key
    frozen = record["recomputed"]["frozen (t0)"]
    # The frozen column is a different model: training moved the prototypes away from t0.
    assert frozen["val/etf_deviation_cluster"] != pytest.approx(recomputed["val/etf_deviation_cluster"], rel=1e-3)
