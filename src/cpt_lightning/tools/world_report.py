"""Write docs/results-world.md from a finished world study: the table and the checks, from runs only.

    python -m cpt_lightning.tools.world_report outputs/world-study/world-main \
        --ablation outputs/world-study/world-ablation-clusters outputs/world-study/world-ablation-terms \
        --facts --geometry --pretraining outputs/world-clip-repro --out docs/results-world.md

Every number in the file comes from the runs' `results.json` (the reproduce runner's output), through
the same `summarise` that writes the runner's own table, from the `pretraining_summary.json` of the
shipped world CLIP and of a from-scratch reproduction, and (`--facts`) from the frozen prototypes of
the datasets the runs name; nothing is typed in by hand. With CPT among the methods the file also
holds CPT's paired per-seed differences against each baseline (`reproduce.paired`), the ablation
tables and the Claims section (`reproduce.claims`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from datetime import date
from pathlib import Path

from cpt_lightning.reproduce.claims import BASELINES, ablation_claims, claims_lines, main_claims
from cpt_lightning.reproduce.paired import PAIRED_HEADER, Scores, paired_difference, paired_row, per_run_scores
from cpt_lightning.reproduce.table import AVERAGE, Row, load_results, markdown, summarise
from cpt_lightning.tools.world_facts import dataset_facts, facts_lines
from cpt_lightning.tools.world_trained_geometry import geometry_lines, study_geometry
from cpt_lightning.world.checkpoint import world_clip_path

BASE_GAIN_POINTS = 5.0  # CoOp over zero-shot on base classes at tau = 1
TAIL_GAP_POINTS = 10.0  # CoOp's head-third minus tail-third accuracy at tau = 0.06
REPRODUCTION_POINTS = 3.0  # a from-scratch pretraining's mean zero-shot top-1 vs the shipped model's
TUNED_MARKER = "written by cpt-tune"  # the first line of every tuned preset (tuning.tuner.write_tuned_preset)
STUDY_COMMAND = "cpt-reproduce configs/study/main.yaml --out outputs/world-study --in-process"


def _row(rows: list[Row], setting: str, dataset: str, method: str) -> Row | None:
    return next((r for r in rows if (r.setting, r.dataset, r.method) == (setting, dataset, method)), None)


def acceptance_checks(rows: list[Row]) -> list[str]:
    """Markdown lines: per dataset CoOp's base gain over zero-shot (tau 1) and its head-tail gap (tau 0.06)."""
    datasets = sorted({r.dataset for r in rows if r.dataset != AVERAGE})
    lines = [
        "| dataset | CoOp base - zero-shot base, tau=1 | CoOp head - tail, tau=0.06 "
        "| zero-shot head - tail, tau=0.06 (same classes) | CoOp tail - zero-shot tail, tau=0.06 |",
        "|---|---|---|---|---|",
    ]
    gains, gaps = 0, 0
    for dataset in datasets:
        coop, zero = _row(rows, "tau=1", dataset, "coop"), _row(rows, "tau=1", dataset, "zeroshot")
        gain = coop.mean["base"] - zero.mean["base"] if coop and zero else None
        tailed, zero_tailed = _row(rows, "tau=0.06", dataset, "coop"), _row(rows, "tau=0.06", dataset, "zeroshot")
        gap = tailed.mean["head"] - tailed.mean["tail"] if tailed and "tail" in tailed.mean else None
        zero_gap = (
            zero_tailed.mean["head"] - zero_tailed.mean["tail"] if zero_tailed and "tail" in zero_tailed.mean else None
        )
        tail_change = (
            tailed.mean["tail"] - zero_tailed.mean["tail"] if gap is not None and zero_gap is not None else None
        )
        gains += gain is not None and gain >= BASE_GAIN_POINTS
        gaps += gap is not None and gap >= TAIL_GAP_POINTS
        show = [f"{value:+.2f}" if value is not None else "not run" for value in (gain, gap, zero_gap, tail_change)]
        lines.append(f"| {dataset} | {' | '.join(show)} |")
    lines += [
        "",
        f"- CoOp beats zero-shot on base classes by >= {BASE_GAIN_POINTS:g} points (tau=1) on {gains} of "
        f"{len(datasets)} datasets (target: at least 3).",
        f"- CoOp's tail third is >= {TAIL_GAP_POINTS:g} points below its head third (tau=0.06) on {gaps} of "
        f"{len(datasets)} datasets (target: at least 3).",
        "- Zero-shot has a head-tail gap of its own on the same classes, because the long tail follows "
        "attribute popularity (`WorldDataModule(popularity='attributes')`): some attributes are harder in "
        "some styles. The gap CoOp adds on top, and its tail against zero-shot's, is what training on the "
        "long tail costs.",
    ]
    return lines


def _mean_zero_shot(summary: dict) -> float:
    """Mean of the base and new zero-shot top-1 over every world dataset, in percent."""
    scores = summary["zero_shot_test_seed_12345"]
    return 100 * sum(s["base"] + s["new"] for s in scores.values()) / (2 * len(scores))


def pretraining_reproduction(shipped_dir: Path, reproduced_dir: Path) -> list[str]:
    """Markdown: zero-shot top-1 of the shipped world CLIP and of a from-scratch reproduction, per dataset."""
    summaries = {}
    for label, folder in (("shipped", shipped_dir), ("reproduced", reproduced_dir)):
        path = folder / "pretraining_summary.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"No {path}: run `python -m cpt_lightning.tools.pretrain_world_clip --out {folder} --seed 0` first."
            )
        summaries[label] = json.loads(path.read_text())
    shipped, reproduced = summaries["shipped"], summaries["reproduced"]
    lines = [
        f"`python -m cpt_lightning.tools.pretrain_world_clip --out {reproduced_dir} --seed {reproduced['seed']}` "
        f"({reproduced['steps']} steps of {reproduced['batch_size']} pairs, {reproduced['minutes']} min) against "
        f"the shipped model ({shipped['steps']} steps, {shipped['minutes']} min). Zero-shot top-1 with "
        '"a photo of a {class}.", 20 test images per class, seed 12345, in percent:',
        "",
        "| dataset | shipped base | reproduced base | shipped new | reproduced new |",
        "|---|---|---|---|---|",
    ]
    for name, scores in shipped["zero_shot_test_seed_12345"].items():
        again = reproduced["zero_shot_test_seed_12345"][name]
        lines.append(
            f"| {name} | {100 * scores['base']:.1f} | {100 * again['base']:.1f} | "
            f"{100 * scores['new']:.1f} | {100 * again['new']:.1f} |"
        )
    difference = _mean_zero_shot(reproduced) - _mean_zero_shot(shipped)
    verdict = "within" if abs(difference) <= REPRODUCTION_POINTS else "NOT within"
    lines += [
        "",
        f"- Mean over datasets and base/new: shipped {_mean_zero_shot(shipped):.2f}, reproduced "
        f"{_mean_zero_shot(reproduced):.2f}, difference {difference:+.2f} points ({verdict} "
        f"{REPRODUCTION_POINTS:g} points).",
    ]
    weights = [folder / "model.safetensors" for folder in (shipped_dir, reproduced_dir)]
    if all(path.is_file() for path in weights):
        digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in weights]
        identical = "bit-identical" if digests[0] == digests[1] else "not bit-identical"
        lines.append(f"- The two `model.safetensors` are {identical} (SHA-256 {digests[0][:12]}, {digests[1][:12]}).")
    return lines


def paired_lines(results: list[dict]) -> list[str]:
    """CPT (and CPT + LA) against each baseline, per setting, on HM and the tail third, paired per seed."""
    scores = per_run_scores(results)
    methods = {m for (_, _, m) in scores}
    comparisons = [("cpt", b) for b in BASELINES if b in methods]
    comparisons += [pair for pair in (("cpt_la", "coop_la"), ("cpt_la", "cpt")) if set(pair) <= methods]
    lines = list(PAIRED_HEADER)
    for setting in dict.fromkeys(s for (s, _, _) in scores):
        for method, baseline in comparisons:
            for column in ("HM", "tail"):
                diff = paired_difference(scores, setting, column, method, baseline)
                if diff.seeds:
                    lines.append(paired_row(diff))
    return lines


def _written_by_cpt_tune(file: str) -> bool:
    path = Path(file)
    return path.is_file() and TUNED_MARKER in path.read_text().partition("\n")[0]


def tuning_lines(results: list[dict]) -> list[str]:
    """Per trained method, what its tuned preset's search did (`<preset>.trials.json` beside the preset):
    the budget, how many trials ran to the end and the pruner that stopped the others. The budget is the
    same for every method; the finished trials need not be, and that is what a reader weighs a method's
    tuning by."""
    rows, seen = [], set()
    for spec in sorted((r["spec"] for r in results if r["spec"]["fit"]), key=lambda spec: spec["method"]):
        for _, file in spec["configs"]:
            record = Path(file).with_suffix(".trials.json")
            if spec["method"] in seen or not (_written_by_cpt_tune(file) and record.is_file()):
                continue
            seen.add(spec["method"])
            summary = json.loads(record.read_text())
            states = [trial["state"] for trial in summary["trials"]]
            pruner = summary.get("pruner", {})
            rows.append(
                f"| {spec['method']} | {summary['trials_budget']} | {states.count('COMPLETE')} | "
                f"{states.count('PRUNED')} | {summary['best']['value']:.2f} | "
                f"{pruner.get('n_startup_trials')} / {pruner.get('n_warmup_steps')} |"
            )
    if not rows:
        return []
    return [
        "| method | trials | ran to the end | pruned | best validation HM | pruner: start-up trials / warm-up epochs |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def _describe(results: list[dict]) -> str:
    seeds = sorted({r["spec"]["seed"] for r in results})
    trained = [r["spec"] for r in results if r["spec"]["fit"]]
    tuned = bool(trained) and all(any(_written_by_cpt_tune(f) for _, f in spec["configs"]) for spec in trained)
    settings = "tuned presets (written by cpt-tune on validation HM)" if tuned else ("the presets' defaults (untuned)")
    return f"Seeds {' '.join(map(str, seeds))}; method settings: {settings}."


def _world_title(results: list[dict]) -> str:
    """Which world the runs trained on, from their run configs (the first config of each run)."""
    run_configs = {str(result["spec"]["configs"][0][1]) for result in results}
    if run_configs and all("world2" in path for path in run_configs):
        return "the hierarchical world (world2, docs/world2.md)"
    return "the demo world"


def render_report(
    study_dirs: list[Path],
    pretraining_dir: Path | None = None,
    ablation_dirs: list[Path] | None = None,
    facts: dict[str, dict] | None = None,
    geometry: Scores | None = None,
) -> str:
    """The whole Markdown document for the finished runs under `study_dirs` (and `ablation_dirs`; a
    pretraining reproduction in `pretraining_dir`, compared with the shipped model; world `facts`;
    the tuned prototypes' `geometry` from `trained_geometry.study_geometry`)."""
    results = [result for study_dir in study_dirs for result in load_results(study_dir)]
    if not results:
        raise FileNotFoundError(f"No results.json under {study_dirs}; run `{STUDY_COMMAND}` first.")
    ablations = {path: load_results(path) for path in ablation_dirs or []}
    rows = summarise(results)
    everything = results + [r for found in ablations.values() for r in found]
    protocols = sorted({r["spec"]["protocol"] for r in everything})
    methods = {r["spec"]["method"] for r in results}
    sources = " ".join(map(str, study_dirs))
    ablation_flag = f" --ablation {' '.join(map(str, ablations))}" if ablations else ""
    flags = f"{' --facts' if facts else ''}{' --geometry' if geometry is not None else ''}"
    flags += f" --pretraining {pretraining_dir}" if pretraining_dir else ""
    header = [
        f"# Results on {_world_title(results)}",
        "",
        f"Generated by `python -m cpt_lightning.tools.world_report {sources}{ablation_flag}{flags}` on "
        f"{date.today()} from {len(everything)} finished runs of the "
        f"protocols {', '.join(protocols)} (`cpt-reproduce`; configs/study/README.md) ({platform.machine()} "
        "CPU, no GPU).",
        "Base-to-new on each world dataset, 16 shots at the head, `tau` = n_min / n_max over the base "
        f"classes, the shipped world CLIP. {_describe(results)} Accuracies in percent, mean +- std over "
        "seeds; HM from the mean base and new; head / medium / tail are thirds of the base classes by "
        "training count, and a class's count follows its colour's and shape's seeded popularity "
        "(docs/world.md)."
        + (
            " `cpt-ivlp` is CPT on the IVLP host (`configs/hosts/ivlp_world.yaml`); the others use the CoOp host."
            if "cpt-ivlp" in methods
            else ""
        ),
        "",
    ]
    if facts:
        # Zero-shot CLIP does not train: its base and new accuracy are the same at every tau.
        zero_shot: dict[str, dict[str, float]] = {}
        for row in sorted(rows, key=lambda r: r.setting != "tau=1"):
            if row.method == "zeroshot":
                zero_shot.setdefault(row.dataset, row.mean)
        note = "Frozen prototypes `t0` of the base classes; margin = mean cosine within a cosine cluster minus between."
        header += ["## World facts", "", note, "", *facts_lines(facts, zero_shot), ""]
    tuning = tuning_lines(results)
    if tuning:
        note = "Each tuned preset's search (`cpt-tune`; every trial in the preset's `*.trials.json`)."
        header += ["## Tuning", "", note, "", *tuning, ""]
    header += ["## Checks", "", *acceptance_checks(rows), ""]
    if "cpt" in methods:
        note = "Per seed, each method's mean over the datasets both ran; differences in points."
        header += ["## CPT against each baseline, paired per seed", "", note, "", *paired_lines(results), ""]
        by_name = {path.name: per_run_scores(found) for path, found in ablations.items()}
        clusters = next((s for name, s in by_name.items() if "clusters" in name), None)
        terms = next((s for name, s in by_name.items() if "terms" in name), None)
        claims = main_claims(per_run_scores(results), geometry) + ablation_claims(clusters, terms)
        if geometry is not None:
            note = "Tuned and frozen prototypes of the training classes under each run's own clusters (prompts.ckpt)."
            header += ["## The hierarchy after training", "", note, "", *geometry_lines(geometry), ""]
        header += ["## Claims", "", *claims_lines(claims), ""]
    for path, found in ablations.items():
        header += [f"## Ablation: {path.name}", "", markdown(summarise(found)) if found else "No finished runs.", ""]
    if pretraining_dir is not None:
        header += ["## Pretraining reproduction", "", *pretraining_reproduction(world_clip_path(), pretraining_dir), ""]
    header += ["## Table", ""]
    return "\n".join(header) + markdown(rows)


def study_facts(study_dirs: list[Path]) -> dict[str, dict]:
    """World facts of every dataset the finished runs trained on (their run config, the first config)."""
    configs = {}
    for study_dir in study_dirs:
        for result in load_results(study_dir):
            configs.setdefault(result["spec"]["dataset"], result["spec"]["configs"][0][1])
    return {name: dataset_facts(config) for name, config in sorted(configs.items())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "study_dirs", type=Path, nargs="+", help="protocol output folders, e.g. outputs/world-study/world"
    )
    parser.add_argument(
        "--pretraining", type=Path, default=None, help="a from-scratch pretraining's --out folder, to compare"
    )
    parser.add_argument("--ablation", type=Path, nargs="*", default=[], help="ablation protocol output folders")
    parser.add_argument("--facts", action="store_true", help="add the world facts of the runs' datasets")
    parser.add_argument("--geometry", action="store_true", help="measure the hierarchy in the runs' prompts.ckpt")
    parser.add_argument("--out", type=Path, default=Path("docs/results-world.md"))
    args = parser.parse_args(argv)
    facts = study_facts(args.study_dirs) if args.facts else None
    geometry = None
    if args.geometry:
        geometry = {key: value for path in args.study_dirs for key, value in study_geometry(path).items()}
    args.out.write_text(render_report(args.study_dirs, args.pretraining, args.ablation, facts, geometry))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
