"""The world study's protocol files cover the issue's grid, and nothing runs until the tuned presets exist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cpt_lightning.reproduce.protocols import load_protocol
from cpt_lightning.reproduce.runs import plan_runs, run_protocol
from cpt_lightning.tuning.leave_one_out import write_leave_one_out

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "configs" / "study"


def test_main_protocol_has_every_method_three_taus_five_seeds_and_three_datasets():
    protocol = load_protocol(str(STUDY / "main.yaml"))
    assert set(protocol.methods) == {"zeroshot", "coop", "kgcoop", "npt", "coop_la", "cpt", "cpt_la"}
    assert not protocol.methods["zeroshot"].fit
    assert protocol.settings == {f"tau={t}": {"data.init_args.tau": float(t)} for t in ("1", "0.25", "0.06")}
    assert len(protocol.seeds) >= 5 and len(protocol.datasets) >= 3
    assert 1001 not in protocol.seeds  # cpt-tune's default tuning seed
    for name, spec in protocol.methods.items():
        if spec.fit:  # trained methods use their tuned preset
            assert spec.configs == [f"configs/tuned/world2/{name}.yaml"]


def test_ablations_vary_one_factor_from_the_default():
    clusters = load_protocol(str(STUDY / "ablation_clusters.yaml"))
    sizes = {name: s["clusters.max_cluster_size"] for name, s in clusters.settings.items()}
    assert {sizes[f"S={n}"] for n in (4, 8, 16, 32)} == {4, 8, 16, 32} and sizes["S=global"] > 10_000
    methods = {name: s["clusters.method"] for name, s in clusters.settings.items()}
    assert methods["agglomerative"] == "agglomerative_cosine" and methods["random"] == "random"
    assert sizes["agglomerative"] == sizes["random"] == 16
    assert clusters.overrides == {"data.init_args.tau": 0.06}
    terms = load_protocol(str(STUDY / "ablation_terms.yaml"))
    assert set(terms.methods) == {"cpt", "cpt_no_etf", "cpt_no_conv", "cpt_no_rot"}


def test_the_runner_names_missing_tuned_presets_before_any_run(tmp_path):
    # The study protocol as it was before tuning: its methods point at a tuned-preset folder not yet written.
    text = (STUDY / "main.yaml").read_text().replace("configs/tuned/world2/", "configs/tuned/not-yet-tuned/")
    (tmp_path / "main.yaml").write_text(text)
    protocol = load_protocol(str(tmp_path / "main.yaml")).select(methods=["cpt"], seeds=[1])
    with pytest.raises(FileNotFoundError, match=r"configs/tuned/not-yet-tuned/cpt.yaml.*cpt-tune --out"):
        run_protocol(protocol, tmp_path / "out", REPO, in_process=True)
    assert not (tmp_path / "out").exists()


def test_leave_one_out_zeroes_exactly_one_term_weight(tmp_path):
    terms = [
        {"class_path": "cpt_lightning.losses.CrossEntropyTerm"},
        {"class_path": "cpt_lightning.losses.EtfSeparationTerm", "init_args": {"weight": 0.3, "variant": "x"}},
        {"class_path": "cpt_lightning.losses.ClassConvergenceTerm", "init_args": {"weight": 2.0}},
        {"class_path": "cpt_lightning.losses.RotationStabilizationTerm"},
    ]
    tuned = {"model": {"loss_terms": terms, "optimizer": {"init_args": {"lr": 0.02}}}, "trainer": {"max_epochs": 7}}
    preset = tmp_path / "cpt.yaml"
    preset.write_text(yaml.safe_dump(tuned))
    paths = write_leave_one_out(preset)
    assert [p.name for p in paths] == ["cpt_no_etf.yaml", "cpt_no_conv.yaml", "cpt_no_rot.yaml"]
    for index, path in zip((1, 2, 3), paths, strict=True):
        ablated = yaml.safe_load(path.read_text())
        weights = [entry.get("init_args", {}).get("weight") for entry in ablated["model"]["loss_terms"]]
        expected = [None, 0.3, 2.0, None]
        expected[index] = 0.0
        assert weights == expected
        assert ablated["trainer"] == tuned["trainer"] and ablated["model"]["optimizer"] == tuned["model"]["optimizer"]
    preset.write_text(yaml.safe_dump({"model": {"loss_terms": terms[:1]}}))
    with pytest.raises(ValueError, match="exactly one"):
        write_leave_one_out(preset)


def test_study_runs_carry_the_setting_overrides():
    protocol = load_protocol(str(STUDY / "ablation_clusters.yaml")).select(datasets=["night"], seeds=[3])
    runs = {run.setting: run for run in plan_runs(protocol, REPO)}
    assert runs["S=4"].overrides == {
        "data.init_args.tau": 0.06,
        "clusters.max_cluster_size": 4,
        "clusters.method": "cosine",
        "data.init_args.seed": 3,
    }
