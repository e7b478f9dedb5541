"""`benchmarks/gpu.py`: the device peak table, and the `--smoke` run of the same code on the CPU (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_path

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))


def test_device_peaks_are_found_by_name_and_unknown_devices_have_none():
    from gpu import peak_tflops

    assert peak_tflops("NVIDIA H200") == {"bf16": 989.0, "fp32": 67.0}
    assert peak_tflops("NVIDIA H100 80GB HBM3")["bf16"] == 989.0
    assert peak_tflops("NVIDIA H100 PCIe")["bf16"] == 756.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB")["bf16"] == 312.0
    assert peak_tflops("Some Future GPU") is None


@pytest.mark.slow
def test_the_smoke_run_measures_every_section(tmp_path):
    shared_path("clip-bpe", "bpe_simple_vocab_16e6.txt.gz")
    out = tmp_path / "smoke.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "CPT_FEATURE_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "gpu.py"), "--smoke", "--out", str(out)],
                   check=True, env=env, cwd=tmp_path, timeout=300)  # fmt: skip
    results = json.loads(Path(out).read_text())
    sections = results["sections"]
    assert set(sections) == {"steps", "text_tower", "lightning_vs_plain", "feature_cache_epoch", "timeline"}
    assert not any("skipped" in section for section in sections.values())

    steps = sections["steps"]["median_step_ms"]
    for classes in (10, 40):
        for precision in ("bf16-mixed", "32-true"):
            coop, cpt = steps[f"coop/K={classes}/{precision}"], steps[f"cpt/K={classes}/{precision}"]
            assert coop > 0 and cpt > 0
            assert steps[f"cpt_over_coop/K={classes}/{precision}"] == pytest.approx(cpt / coop, rel=1e-3)
    tower = sections["text_tower"]["per_setting"]
    for classes in (10, 40):
        bf16, fp32 = tower[f"K={classes}/bf16-mixed"], tower[f"K={classes}/32-true"]
        assert bf16["flops"] == fp32["flops"] > 0  # the same operations, whatever the precision
        assert fp32["prompts_per_s"] == pytest.approx(classes / fp32["seconds"], rel=1e-2)
        assert fp32["mfu"] is None  # no known peak for a CPU
    assert tower["K=40/32-true"]["flops"] > 3 * tower["K=10/32-true"]["flops"]  # grows with the class count
    overhead = sections["lightning_vs_plain"]
    assert len(overhead["ratios"]) == 2 and all(r > 0 for r in overhead["ratios"])
    cache = sections["feature_cache_epoch"]
    assert cache["images"] == 16 and cache["pixels_epoch_s"] > 0 and cache["cached_epoch_s"] > 0
    timeline = sections["timeline"]
    assert 0 < timeline["fit_train_steps_s"] <= timeline["fit_s"]
    assert 0 < timeline["test_steps_s"] <= timeline["test_s"]
