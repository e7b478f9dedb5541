"""The paper-style table: per setting, dataset and method, mean and std over seeds, as Markdown and CSV.

Columns (in percent, those any row has): `acc` (overall top-1 with one evaluation set), `base`,
`new`, `HM`, and `head` / `medium` / `tail` accuracy. The std is over seeds with `ddof=0` (as
CoOp's `parse_test_res.py`). `HM` is the harmonic mean of the mean base and mean new accuracy
(the convention of the CoCoOp / KgCoOp tables); its std is that of the per-seed HMs. With several
datasets an "average" row per setting and method gives the mean over datasets of each column
(HM again from the averaged base and new), without std.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpt_lightning.metrics.class_accuracy import harmonic_mean
from cpt_lightning.metrics.keys import (
    ACCURACY,
    ALL_SET,
    BASE_TO_NEW_SETS,
    GROUP_ORDER,
    group_accuracy_metric,
    harmonic_mean_key,
    metric_key,
    set_metric_keys,
)
from cpt_lightning.reproduce.runs import RESULTS_FILE

# column -> the test keys that hold it (the first one a run logged wins); group accuracies are the
# training classes' groups: of the only set, of base-to-new's base set, or of a set named "all".
COLUMNS: dict[str, tuple[str, ...]] = {
    ACCURACY: set_metric_keys("test", ACCURACY, (ALL_SET,)),
    **{name: (metric_key("test", name, ACCURACY, True),) for name in BASE_TO_NEW_SETS},
    "HM": (harmonic_mean_key("test"),),
    **{group: set_metric_keys("test", group_accuracy_metric(group), ("base", ALL_SET)) for group in GROUP_ORDER},
}
AVERAGE = "average"


@dataclass
class Row:
    """One table row: per column the mean and std (percent) and the seeds it covers."""

    setting: str
    dataset: str
    method: str
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float]


def load_results(out_dir: Path) -> list[dict[str, Any]]:
    """Every finished run's `results.json` under `out_dir`, in path order."""
    return [json.loads(path.read_text()) for path in sorted(out_dir.rglob(RESULTS_FILE))]


def column_values(metrics: dict[str, float]) -> dict[str, float]:
    """The table's columns (percent) that a run's test metrics hold."""
    values = {}
    for column, keys in COLUMNS.items():
        present = [key for key in keys if key in metrics]
        if present:
            values[column] = 100.0 * metrics[present[0]]
    return values


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _std(values: list[float]) -> float:
    mean = _mean(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))


def summarise(results: list[dict[str, Any]]) -> list[Row]:
    """Rows over (setting, evaluated dataset, method), seeds aggregated; "average" rows appended."""
    per_seed: dict[tuple[str, str, str], dict[int, dict[str, float]]] = defaultdict(dict)
    for result in results:
        spec = result["spec"]
        for dataset, metrics in result["tests"].items():
            per_seed[(spec["setting"], dataset, spec["method"])][spec["seed"]] = column_values(metrics)
    rows = []
    for (setting, dataset, method), by_seed in per_seed.items():
        columns = {column for values in by_seed.values() for column in values}
        mean, std = {}, {}
        for column in sorted(columns, key=list(COLUMNS).index):
            values = [seed_values[column] for seed_values in by_seed.values() if column in seed_values]
            mean[column], std[column] = _mean(values), _std(values)
        if "base" in mean and "new" in mean:
            mean["HM"] = harmonic_mean(mean["base"], mean["new"])
        rows.append(Row(setting, dataset, method, sorted(by_seed), mean, std))
    return rows + _average_rows(rows)


def _average_rows(rows: list[Row]) -> list[Row]:
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.setting, row.method)].append(row)
    averages = []
    for (setting, method), members in groups.items():
        if len(members) < 2:
            continue
        shared = [c for c in COLUMNS if all(c in row.mean for row in members)]
        mean = {column: _mean([row.mean[column] for row in members]) for column in shared}
        if "base" in mean and "new" in mean:
            mean["HM"] = harmonic_mean(mean["base"], mean["new"])
        seeds = sorted({seed for row in members for seed in row.seeds})
        averages.append(Row(setting, AVERAGE, method, seeds, mean, {}))
    return averages


def _present_columns(rows: list[Row]) -> list[str]:
    return [column for column in COLUMNS if any(column in row.mean for row in rows)]


def write_csv(rows: list[Row], path: Path) -> None:
    """One line per row: setting, dataset, method, seeds, then `<column>_mean` / `<column>_std` (full precision)."""
    columns = _present_columns(rows)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["setting", "dataset", "method", "seeds", *[f"{c}_{s}" for c in columns for s in ("mean", "std")]]
        )
        for row in rows:
            cells = [row.setting, row.dataset, row.method, " ".join(map(str, row.seeds))]
            for column in columns:
                cells.append(repr(row.mean[column]) if column in row.mean else "")
                cells.append(repr(row.std[column]) if column in row.std else "")
            writer.writerow(cells)


def markdown(rows: list[Row]) -> str:
    """A Markdown table per setting: `mean ± std` with two decimals (mean only on "average" rows)."""
    columns = _present_columns(rows)
    sections = []
    for setting in dict.fromkeys(row.setting for row in rows):
        lines = [f"### {setting}", "", "| dataset | method | seeds | " + " | ".join(columns) + " |"]
        lines.append("|---|---|---|" + "---|" * len(columns))
        for row in (r for r in rows if r.setting == setting):
            cells = []
            for column in columns:
                if column not in row.mean:
                    cells.append("")
                elif column in row.std:
                    cells.append(f"{row.mean[column]:.2f} ± {row.std[column]:.2f}")
                else:
                    cells.append(f"{row.mean[column]:.2f}")
            seeds = ",".join(map(str, row.seeds))
            lines.append(f"| {row.dataset} | {row.method} | {seeds} | " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def write_tables(out_dir: Path, name: str = "table") -> tuple[Path, Path]:
    """Summarise every finished run under `out_dir` into `<name>.md` and `<name>.csv` there."""
    rows = summarise(load_results(out_dir))
    markdown_path, csv_path = out_dir / f"{name}.md", out_dir / f"{name}.csv"
    markdown_path.write_text(markdown(rows))
    write_csv(rows, csv_path)
    return markdown_path, csv_path
