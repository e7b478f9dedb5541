"""A short, readable summary of the test results: accuracy per set, HM, head / medium / tail."""

from __future__ import annotations

import math

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_only

from cpt_lightning.metrics.keys import ACCURACY, GROUP_ORDER, group_accuracy_metric, harmonic_mean_key, metric_key


def format_test_summary(scalars: dict[str, float], set_sizes: dict[str, int]) -> str:
    """Lines like `base  50.5%  (head 61.0 | medium 48.2 | tail 30.1)` and `HM 49.3%`, from logged scalars."""
    several = len(set_sizes) > 1
    lines = []
    for set_name, size in set_sizes.items():
        accuracy = scalars.get(metric_key("test", set_name, ACCURACY, several))
        if accuracy is None:
            continue
        group_keys = {g: metric_key("test", set_name, group_accuracy_metric(g), several) for g in GROUP_ORDER}
        groups = [f"{g} {100 * scalars[key]:.1f}" for g, key in group_keys.items() if key in scalars]
        detail = f"  ({' | '.join(groups)})" if groups else ""
        lines.append(f"  {set_name:<6} {100 * accuracy:5.1f}%  over {size} classes{detail}")
    hm = scalars.get(harmonic_mean_key("test"))
    if hm is not None and not math.isnan(hm):
        lines.append(f"  {'HM':<6} {100 * hm:5.1f}%")
    return "\n".join(["Test accuracy:", *lines])


class ResultsSummary(pl.Callback):
    """Prints `format_test_summary` after `cpt test`, on rank 0 (the demo's closing lines)."""

    @rank_zero_only
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        results = getattr(pl_module, "eval_results", {}).get("test")
        if results is None:
            return
        scalars = {key: float(value) for key, value in results.scalars.items()}
        print(format_test_summary(scalars, {name: len(names) for name, names in results.classnames.items()}))
