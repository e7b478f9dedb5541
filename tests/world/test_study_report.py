"""The study report on synthetic run records: paired rows, claims and ablations from finished runs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cpt_lightning.tools.world_facts import effective_rank, facts_lines, hierarchy_margin
from cpt_lightning.tools.world_report import render_report


def _run(out: Path, protocol: str, setting: str, dataset: str, method: str, seed: int, hm: float, tail: float):
    spec = {
        "protocol": protocol, "setting": setting, "dataset": dataset, "method": method, "seed": seed,
        "fit": method != "zeroshot", "configs": [["--config", f"configs/world/{dataset}.yaml"],
                                                 ["--config", str(out.parent / f"{method}.yaml")]],
        "overrides": {}, "transfer": {},
    }  # fmt: skip
    metrics = {"test/base/acc": hm / 100, "test/new/acc": hm / 100, "test/hm": hm / 100}
    metrics |= {"test/base/acc_head": 0.9, "test/base/acc_medium": 0.7, "test/base/acc_tail": tail / 100}
    tests = {dataset: metrics}
    folder = out / setting / dataset / method / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"spec": spec, "tests": tests}))


def _study(tmp_path: Path) -> tuple[Path, Path]:
    main, clusters = tmp_path / "world-main", tmp_path / "world-ablation-clusters"
    for method in ("coop", "cpt"):  # what the runs' specs name: tuned presets (cpt-tune's first line)
        (tmp_path / f"{method}.yaml").write_text("# Tuned preset of method 'x', written by cpt-tune (...)\n")
    # cpt - coop per seed on HM: +2 +3 +4 (mean 3, std 1); on the tail: +5 +5 +6.
    per_method = {"zeroshot": ([50, 50, 50], [40, 40, 40]), "coop": ([60, 61, 62], [45, 46, 47]),
                  "cpt": ([62, 64, 66], [50, 51, 53])}  # fmt: skip
    for method, (hms, tails) in per_method.items():
        for seed, (hm, tail) in enumerate(zip(hms, tails, strict=True), 1):
            _run(main, "world-main", "tau=0.06", "sketches", method, seed, hm, tail)
    for setting, hms in {"S=16": [62, 64, 66], "S=32": [61, 64, 65]}.items():
        for seed, hm in enumerate(hms, 1):
            _run(clusters, "world-ablation-clusters", setting, "sketches", "cpt", seed, hm, hm - 10)
    return main, clusters


def test_report_holds_paired_differences_claims_and_ablations(tmp_path):
    main, clusters = _study(tmp_path)
    report = render_report([main], ablation_dirs=[clusters])
    assert "method settings: tuned presets" in report and "Seeds 1 2 3" in report
    assert report.startswith("# Results on the demo world\n")  # the runs' configs are configs/world/*.yaml
    # t = 3 / (1 / sqrt 3) = 5.196; Wilcoxon: all three positive, W = 0, exact p = 2 / 2^3.
    assert (
        "| tau=0.06 | cpt - coop | HM | 1:+2.00 2:+3.00 3:+4.00 | +3.00 ± 1.00 | 3/3 | +5.20 (0.035) | 0.0 (0.250) |"
        in (report)
    )
    assert "| CPT's tail third beats coop's at tau=0.06 | **held** |" in report
    assert "| CPT's base-to-new HM beats zeroshot's at tau=0.06 | **held** |" in report
    assert "| CPT's tail third beats kgcoop's at tau=0.06 | **not measurable here** |" in report
    # S=16 - S=32: +1 0 +1 (mean 0.67 > std 0.58) on HM and tail, but S=global was not run.
    assert "| Smaller clusters are better: S=16 beats S=32 and one global cluster (HM and tail) | **not measurable" in (
        report
    )
    assert "## Ablation: world-ablation-clusters" in report and "### S=32" in report
    assert "A global ETF flattens CLIP's semantic hierarchy" in report


def test_report_counts_each_tuned_presets_finished_and_pruned_trials(tmp_path):
    main, _ = _study(tmp_path)
    states = {"coop": ["COMPLETE", "PRUNED", "PRUNED", "PRUNED"], "cpt": ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]}
    for method, method_states in states.items():
        record = {
            "trials_budget": 4, "best": {"value": 71.234}, "pruner": {"n_startup_trials": 2, "n_warmup_steps": 1},
            "trials": [{"state": state} for state in method_states],
        }  # fmt: skip
        (tmp_path / f"{method}.trials.json").write_text(json.dumps(record))
    report = render_report([main])
    assert "| coop | 4 | 1 | 3 | 71.23 | 2 / 1 |" in report
    assert "| cpt | 4 | 3 | 1 | 71.23 | 2 / 1 |" in report
    assert "zeroshot |" not in report.split("## Tuning")[1].split("## Checks")[0]  # not tuned, not listed


def test_an_unfinished_run_is_not_counted(tmp_path):
    main, _ = _study(tmp_path)
    (main / "tau=0.06" / "sketches" / "cpt" / "seed3" / "results.json").unlink()
    report = render_report([main])
    assert "| tau=0.06 | cpt - coop | HM | 1:+2.00 2:+3.00 | +2.50 ± 0.71 | 2/2 |" in report


def test_hierarchy_margin_and_effective_rank_by_hand():
    # Two clusters of identical unit vectors on orthogonal axes: within cosine 1, between 0.
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert hierarchy_margin(features, torch.tensor([0, 0, 1, 1])) == pytest.approx(1.0)
    # Clusters that cut across the axes: within 0 (pairs 0-2, 1-3), between (1 + 1 + 0 + 0) / 4 = 0.5.
    assert hierarchy_margin(features, torch.tensor([0, 1, 0, 1])) == pytest.approx(-0.5)
    assert effective_rank(torch.eye(5)) == pytest.approx(5.0)
    assert effective_rank(torch.ones(4, 3)) == pytest.approx(1.0)
    assert effective_rank(features) == pytest.approx(2.0)


def test_facts_lines_show_chance_multiples():
    facts = {"sketches": {"base_classes": 32, "new_classes": 32, "dim": 128, "effective_rank": 9.5,
                          "clusters": [{"S": 16, "clusters": 4, "largest": 12, "margin": 0.25}]}}  # fmt: skip
    lines = facts_lines(facts, {"sketches": {"base": 50.0, "new": 31.25}})
    assert lines[-1] == "| sketches | 32 | 32 | 128 | 9.5 | 4 (12), +0.250 | 50.00 | 31.25 | 10.0x |"
    facts["sketches"]["clusters"][0]["margin"] = float("nan")  # one cluster: no between-cluster pairs
    assert "| 4 (12), n/a (one cluster) | not run | not run | not run |" in facts_lines(facts, {})[-1]


@pytest.mark.slow
def test_dataset_facts_of_the_shipped_world():
    import json as json_module
    import math

    from cpt_lightning.tools.world_facts import dataset_facts
    from cpt_lightning.world import WorldDataset
    from cpt_lightning.world.checkpoint import world_clip_path

    repo = Path(__file__).resolve().parents[2]
    facts = dataset_facts(str(repo / "configs" / "world" / "sketches.yaml"))
    classes = len(WorldDataset("sketches").classnames)
    assert facts["base_classes"] == math.ceil(classes / 2) and facts["new_classes"] == classes // 2
    assert facts["dim"] == json_module.loads((world_clip_path() / "config.json").read_text())["projection_dim"]
    assert 1.0 <= facts["effective_rank"] <= facts["base_classes"]
    for row in facts["clusters"]:
        # At most S classes per cluster, so at least ceil(K / S) clusters.
        assert row["largest"] <= row["S"] and row["clusters"] >= math.ceil(facts["base_classes"] / row["S"])


def test_runs_of_the_hierarchical_world_are_titled_so(tmp_path):
    main = tmp_path / "world2-main"
    for seed in (1, 2):
        _run(main, "world2-main", "tau=0.06", "night", "coop", seed, 60, 50)
    for path in main.rglob("results.json"):  # the runs' run config is a world2 config
        record = json.loads(path.read_text())
        record["spec"]["configs"][0][1] = "configs/world2/night.yaml"
        path.write_text(json.dumps(record))
    assert render_report([main]).startswith("# Results on the hierarchical world (world2, docs/world2.md)\n")
