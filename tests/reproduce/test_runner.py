"""The reproduce runner: a 2 datasets x 2 seeds x 2 methods protocol, its table, and skipping finished runs."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml

from cpt_lightning.metrics.class_accuracy import harmonic_mean
from cpt_lightning.reproduce.cli import main
from cpt_lightning.reproduce.protocols import builtin_protocols
from cpt_lightning.reproduce.runs import plan_runs

pytestmark = pytest.mark.slow

CSV_PRESET = Path(__file__).resolve().parents[2] / "configs" / "eval" / "csv.yaml"
DATASETS = {
    "animals": ["cat", "dog", "sea lion", "shark", "goldfish", "tabby"],
    "vehicles": ["airliner", "bicycle", "tram", "canoe", "tractor"],
}


def _write(path: Path, content: dict) -> str:
    path.write_text(yaml.safe_dump(content))
    return str(path)


def _protocol(tmp_path: Path, tiny_clip_dir: Path) -> str:
    datasets = {
        name: _write(
            tmp_path / f"{name}.yaml",
            {
                "data": {
                    "class_path": "cpt_lightning.data.generated.GeneratedDataModule",
                    "init_args": {
                        "classnames": names,
                        "subsample": "base_to_new",
                        "class_groups": ["head", "medium", "tail"],
                        "train_per_class": 2,
                        "eval_per_class": 2,
                        "batch_size": 8,
                    },
                }
            },
        )
        for name, names in DATASETS.items()
    }
    common = _write(
        tmp_path / "common.yaml",
        {
            "trainer": {
                "accelerator": "cpu",
                "max_epochs": 1,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "enable_checkpointing": False,
                "num_sanity_val_steps": 0,
            },
            "model": {"clip_name_or_path": str(tiny_clip_dir)},
        },
    )
    zeroshot = _write(tmp_path / "zeroshot.yaml", {"prompt_learner": None})  # `model:` files
    coop = _write(tmp_path / "coop.yaml", {"optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}})
    protocol = {
        "name": "tiny_b2n",
        "datasets": datasets,
        "methods": {"zeroshot": {"configs": [{"model": zeroshot}], "fit": False}, "coop": [{"model": coop}]},
        "seeds": [1, 2],
        "configs": [common, str(CSV_PRESET)],
        "overrides": {"trainer.logger.init_args.save_dir": "{run_dir}"},
    }
    return _write(tmp_path / "protocol.yaml", protocol)


def _logged_test_metrics(run_dir: Path) -> dict[str, float]:
    """The test metrics the run's own CSV log holds (its last row that has them)."""
    (metrics_file,) = run_dir.glob("csv/version_*/metrics.csv")
    rows = list(csv.DictReader(metrics_file.open()))
    test_row = [row for row in rows if row.get("test/base/acc")][-1]
    return {key: float(value) for key, value in test_row.items() if key.startswith("test/") and value}


def test_runner_table_matches_the_runs_and_a_second_invocation_reruns_nothing(tiny_clip_dir, tmp_path):
    protocol = _protocol(tmp_path, tiny_clip_dir)
    out = tmp_path / "runs"
    assert main([protocol, "--out", str(out), "--in-process"]) == 0

    results = sorted((out / "tiny_b2n").rglob("results.json"))
    assert len(results) == 2 * 2 * 2
    per_run = {}
    for path in results:
        content = json.loads(path.read_text())
        spec, metrics = content["spec"], content["tests"][content["spec"]["dataset"]]
        assert metrics == _logged_test_metrics(path.parent)  # results.json is what the run logged
        per_run[(spec["dataset"], spec["method"], spec["seed"])] = metrics

    with (out / "tiny_b2n" / "table.csv").open() as handle:
        table = {(row["dataset"], row["method"]): row for row in csv.DictReader(handle)}
    for dataset in DATASETS:
        for method in ("zeroshot", "coop"):
            row = table[(dataset, method)]
            seeds = [per_run[(dataset, method, seed)] for seed in (1, 2)]
            for column, key in (("base", "test/base/acc"), ("new", "test/new/acc"), ("tail", "test/base/acc_tail")):
                values = [100 * run[key] for run in seeds]
                assert float(row[f"{column}_mean"]) == pytest.approx(statistics.fmean(values), abs=1e-9)
                assert float(row[f"{column}_std"]) == pytest.approx(statistics.pstdev(values), abs=1e-9)
            base = statistics.fmean(100 * run["test/base/acc"] for run in seeds)
            new = statistics.fmean(100 * run["test/new/acc"] for run in seeds)
            assert float(row["HM_mean"]) == pytest.approx(harmonic_mean(base, new), abs=1e-9)
    average = table[("average", "coop")]
    means = [float(table[(dataset, "coop")]["base_mean"]) for dataset in DATASETS]
    assert float(average["base_mean"]) == pytest.approx(statistics.fmean(means), abs=1e-9)
    markdown = (out / "tiny_b2n" / "table.md").read_text()
    assert f"{float(table[('animals', 'coop')]['base_mean']):.2f} ± " in markdown

    before = {path: path.stat().st_mtime_ns for path in (out / "tiny_b2n").rglob("*") if path.is_file()}
    assert main([protocol, "--out", str(out), "--in-process"]) == 0
    after = {path: path.stat().st_mtime_ns for path in (out / "tiny_b2n").rglob("*") if path.is_file()}
    changed = {path.name for path in after if before.get(path) != after[path]}
    assert changed <= {"table.md", "table.csv"}  # no run directory was touched: nothing re-ran


def test_builtin_protocols_cover_the_fields_grids():
    protocols = builtin_protocols()
    b2n = plan_runs(protocols["base_to_new"].select(methods=["coop"]), Path("."))
    assert len(b2n) == 11 * 3 * 3  # datasets x tau x seeds
    assert {run.overrides["data.init_args.tau"] for run in b2n} == {1.0, 0.25, 0.06}
    assert all(run.configs[0][0] == "--config" and run.configs[0][1].endswith("_b2n.yaml") for run in b2n)
    few_shot = plan_runs(protocols["few_shot"].select(methods=["coop"]), Path("."))
    assert {run.overrides["data.init_args.shots"] for run in few_shot} == {1, 2, 4, 8, 16}
    cross = protocols["cross_dataset"]
    assert list(cross.datasets) == ["imagenet"] and len(cross.transfer) == 10
    shifts = {"imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"}
    assert set(protocols["domain_generalization"].transfer) == shifts
    repo = Path(__file__).resolve().parents[2]
    for protocol in protocols.values():
        methods = [
            entry if isinstance(entry, str) else entry["model"]
            for method in protocol.methods.values()
            for entry in method.configs
        ]
        for config in [*protocol.datasets.values(), *protocol.transfer.values(), *methods]:
            assert (repo / config).is_file(), config


def test_transfer_targets_are_tested_with_the_trained_prompts(tiny_clip_dir, tmp_path):
    import torch

    from cpt_lightning.data.generated import GeneratedDataModule
    from cpt_lightning.models import CPTModule

    def data_config(names: list[str]) -> dict:
        init_args = {"classnames": names, "train_per_class": 2, "eval_per_class": 3, "batch_size": 8}
        return {"data": {"class_path": "cpt_lightning.data.generated.GeneratedDataModule", "init_args": init_args}}

    trainer = {"accelerator": "cpu", "max_epochs": 1, "logger": False, "enable_progress_bar": False}
    trainer |= {"enable_model_summary": False, "enable_checkpointing": False, "num_sanity_val_steps": 0}
    common = _write(tmp_path / "common.yaml", {"trainer": trainer, "model": {"clip_name_or_path": str(tiny_clip_dir)}})
    protocol = {
        "name": "tiny_transfer",
        "datasets": {"animals": _write(tmp_path / "animals.yaml", data_config(DATASETS["animals"]))},
        "transfer": {"vehicles": _write(tmp_path / "vehicles.yaml", data_config(DATASETS["vehicles"]))},
        "methods": {"coop": []},
        "seeds": [4],
        "configs": [common],
        "overrides": {"model.optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 5.0}}},
    }
    out = tmp_path / "runs"
    assert main([_write(tmp_path / "protocol.yaml", protocol), "--out", str(out), "--in-process"]) == 0

    run_dir = out / "tiny_transfer" / "default" / "animals" / "coop" / "seed4"
    tests = json.loads((run_dir / "results.json").read_text())["tests"]
    assert set(tests) == {"animals", "vehicles"}
    transferred = CPTModule.load_from_checkpoint(run_dir / "prompts.ckpt", classnames=DATASETS["vehicles"])
    data = GeneratedDataModule(DATASETS["vehicles"], eval_per_class=3)
    data.setup("test")
    images, labels = data.eval_sets["all"].images, data.eval_sets["all"].labels
    with torch.no_grad():
        accuracy = (transferred(images).argmax(-1) == labels).float().mean().item()
    assert tests["vehicles"]["test/acc"] == pytest.approx(accuracy)
    with open(out / "tiny_transfer" / "table.csv") as handle:
        assert {row["dataset"] for row in csv.DictReader(handle)} >= {"animals", "animals -> vehicles"}


def _printed_config(subcommand: str, args: list[str]) -> dict:
    import contextlib
    import io

    from cpt_lightning.cli import main as cpt_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cpt_main([subcommand, *args, "--print_config"])
    return yaml.safe_load(out.getvalue())


def test_builtin_runs_parse_against_the_shipped_configs(tmp_path):
    from cpt_lightning.reproduce.runs import cli_args

    repo = Path(__file__).resolve().parents[2]
    protocol = builtin_protocols()["base_to_new"].select(datasets=["dtd"], methods=["kgcoop"], seeds=[2])
    run = [r for r in plan_runs(protocol, repo) if r.setting == "tau=0.25"][0]
    printed = _printed_config("fit", cli_args(run.configs, run.overrides, run.seed, tmp_path))
    assert printed["data"]["init_args"]["tau"] == 0.25 and printed["data"]["init_args"]["seed"] == 2
    assert printed["data"]["init_args"]["subsample"] == "base_to_new"
    assert printed["seed_everything"] == 2 and printed["trainer"]["default_root_dir"] == str(tmp_path)
    method = yaml.safe_load((repo / "configs" / "methods" / "kgcoop.yaml").read_text())
    expected = [t["class_path"] for t in method["model"]["loss_terms"]]
    assert [t["class_path"] for t in printed["model"]["loss_terms"]] == expected

    shift = plan_runs(builtin_protocols()["domain_generalization"].select(methods=["zeroshot"], seeds=[1]), repo)[0]
    target_configs = shift.transfer["imagenet_a"]
    printed = _printed_config("test", cli_args(target_configs, {}, 1, tmp_path))
    assert printed["data"]["class_path"].endswith("ImageNetADataModule")
    assert printed["model"]["prompt_learner"] is None
