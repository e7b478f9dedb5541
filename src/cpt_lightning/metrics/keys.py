"""The one owner of the names evaluation results are logged under, and of the class-group order.

Everything that writes or reads a logged key -- `metrics/evaluation.py` and `metrics/geometry.py`
(which log them), `callbacks/results_summary.py` (the closing lines of `cpt test`),
`reproduce/table.py` (the paper table), `metrics/class_accuracy.py` (the group order) -- builds
the key with these functions, so a rename happens here and nowhere else.

Keys are `<stage>/<metric>` with one evaluation set and `<stage>/<set>/<metric>` with several
(e.g. `test/acc`, `test/base/acc`); base-to-new adds `<stage>/hm`.
"""

from __future__ import annotations

from collections.abc import Iterable

# head / medium / tail first, in this order, wherever groups are listed.
GROUP_ORDER = ("head", "medium", "tail")

ALL_SET = "all"  # the evaluation set of a module that evaluates on its training classes only
BASE_TO_NEW_SETS = ("base", "new")

ACCURACY = "acc"  # top-1, micro (correct / samples)
LOSS = "loss"  # mean cross-entropy
HARMONIC_MEAN = "hm"  # of the base and new top-1

NC1 = "nc1"
# Centred global deviation: cosines of `normalize(t_k - mean_k t_k)` over all classes, towards `-1/(K-1)`.
# Not the NPT `global` ETF loss, which uses raw (uncentred) cosines.
ETF_DEVIATION_GLOBAL_CENTRED = "etf_deviation_global_centred"
ETF_DEVIATION_CLUSTER = "etf_deviation_cluster"  # centred, inside each cluster (the CPT ETF loss)
INTRA_CLUSTER_COSINE_MEAN = "intra_cluster_cosine_mean"
INTRA_CLUSTER_COSINE_STD = "intra_cluster_cosine_std"


def group_accuracy_metric(group: str) -> str:
    """`acc_<group>`: the macro accuracy of one class group (`acc_head`)."""
    return f"{ACCURACY}_{group}"


def metric_key(stage: str, set_name: str, metric: str, several_sets: bool) -> str:
    """`<stage>/<metric>` with one evaluation set, `<stage>/<set>/<metric>` with several."""
    return f"{stage}/{set_name}/{metric}" if several_sets else f"{stage}/{metric}"


def harmonic_mean_key(stage: str) -> str:
    """`<stage>/hm`, logged when the evaluation sets are base and new."""
    return f"{stage}/{HARMONIC_MEAN}"


def set_metric_keys(stage: str, metric: str, set_names: Iterable[str]) -> tuple[str, ...]:
    """Where a run may have logged `metric`: as its only set's (`<stage>/<metric>`), then as each named set's."""
    return (f"{stage}/{metric}", *(metric_key(stage, name, metric, True) for name in set_names))
