"""The paper's claims, each checked against paired per-seed differences of finished runs.

A claim is **held** only when every comparison it rests on has a positive mean difference larger than
the seed spread of that difference (`PairedDifference.exceeds_spread`); **not held** when all its
comparisons were run but one fails; **not measurable here** when a comparison lacks runs (fewer
than two paired seeds) or the quantity is not in the runs' results.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from cpt_lightning.reproduce.paired import PairedDifference, Scores, paired_difference

HELD, NOT_HELD, NOT_MEASURABLE = "held", "not held", "not measurable here"
BASELINES = ("zeroshot", "coop", "kgcoop", "npt", "coop_la")
LONG_TAIL = "tau=0.06"
DEFAULT_CLUSTERS = "S=16"


@dataclass
class Claim:
    """One claim, its verdict and the comparisons (or the reason) behind it."""

    statement: str
    comparisons: list[PairedDifference] = field(default_factory=list)
    note: str = ""
    fixed_verdict: str | None = None  # for a claim about spreads rather than differences

    @property
    def verdict(self) -> str:
        if self.fixed_verdict is not None:
            return self.fixed_verdict
        if not self.comparisons or not all(c.measurable for c in self.comparisons):
            return NOT_MEASURABLE
        return HELD if all(c.exceeds_spread for c in self.comparisons) else NOT_HELD

    def evidence(self) -> str:
        parts = [
            f"{c.method} - {c.baseline} {c.column} at {c.setting}: {c.mean:+.2f} ± {c.std:.2f} "
            f"({c.ahead}/{len(c.seeds)} seeds ahead)"
            if c.measurable
            else f"{c.method} - {c.baseline} {c.column} at {c.setting}: not run"
            for c in self.comparisons
        ]
        return "; ".join(parts + ([self.note] if self.note else []))


def _pairs(scores: Scores, setting: str, method: str, baselines, columns) -> list[PairedDifference]:
    return [paired_difference(scores, setting, c, method, b) for b in baselines for c in columns]


def seed_std(scores: Scores, setting: str, method: str, column: str) -> float:
    """Std over seeds (ddof=1) of a method's per-seed mean over datasets; NaN with fewer than two seeds."""
    datasets = sorted(d for (s, d, m) in scores if s == setting and m == method)
    if not datasets:
        return float("nan")
    seeds = set.intersection(*(set(scores[(setting, d, method)]) for d in datasets))
    per_seed = [statistics.fmean(scores[(setting, d, method)][seed][column] for d in datasets) for seed in seeds]
    return statistics.stdev(per_seed) if len(per_seed) >= 2 else float("nan")


def main_claims(main: Scores, geometry: Scores | None = None) -> list[Claim]:
    """Claims on the main grid: the tail, base-to-new HM, local vs global ETF, NC terms on top of LA, and
    (with `geometry`, per-run `margin` of the tuned prototypes) whether a global ETF flattens the hierarchy."""
    claims = []
    for baseline in BASELINES:
        claims.append(Claim(f"CPT's tail third beats {baseline}'s at {LONG_TAIL}", _pairs(
            main, LONG_TAIL, "cpt", [baseline], ["tail"])))  # fmt: skip
    for setting in sorted({s for (s, _, _) in main}):
        for baseline in BASELINES:
            claims.append(Claim(f"CPT's base-to-new HM beats {baseline}'s at {setting}", _pairs(
                main, setting, "cpt", [baseline], ["HM"])))  # fmt: skip
    claims.append(Claim(f"Cluster-local NC terms beat a global ETF (CPT vs NPT-like, HM and tail, {LONG_TAIL})",
                        _pairs(main, LONG_TAIL, "cpt", ["npt"], ["HM", "tail"])))  # fmt: skip
    claims.append(Claim(f"The NC terms add to logit adjustment (CPT+LA vs CoOp+LA, HM and tail, {LONG_TAIL})",
                        _pairs(main, LONG_TAIL, "cpt_la", ["coop_la"], ["HM", "tail"])))  # fmt: skip
    flattening = "A global ETF flattens CLIP's semantic hierarchy more than the cluster-local terms (margin, CPT - NPT)"
    if geometry is None:
        claims.append(
            Claim(flattening, note="the hierarchy margin after training was not measured (report --geometry)")
        )
    else:
        claims.append(Claim(flattening, [paired_difference(geometry, LONG_TAIL, "margin", "cpt", "npt")]))
    return claims


def ablation_claims(clusters: Scores | None, terms: Scores | None) -> list[Claim]:
    """Claims on the ablations: smaller clusters, cosine clustering (and its variance), every NC term."""
    claims = []
    if clusters is not None:

        def vs(setting: str, column: str) -> PairedDifference:
            return _cross_setting(clusters, DEFAULT_CLUSTERS, setting, "cpt", column)

        claims.append(Claim("Smaller clusters are better: S=16 beats S=32 and one global cluster (HM and tail)",
                            [vs(s, c) for s in ("S=32", "S=global") for c in ("HM", "tail")]))  # fmt: skip
        claims.append(Claim("Cosine clustering beats agglomerative and random clustering (HM, S=16)",
                            [vs(s, "HM") for s in ("agglomerative", "random")]))  # fmt: skip
        spreads = {s: seed_std(clusters, s, "cpt", "HM") for s in (DEFAULT_CLUSTERS, "agglomerative", "random")}
        lower = all(spreads[DEFAULT_CLUSTERS] < spreads[s] for s in ("agglomerative", "random"))
        measurable = all(value == value for value in spreads.values())  # no NaN
        verdict = HELD if measurable and lower else NOT_HELD if measurable else NOT_MEASURABLE
        variance = Claim(
            "Cosine clustering has lower variance over seeds than the alternatives (HM std)",
            note="std over seeds of the mean HM: " + ", ".join(f"{s}: {v:.2f}" for s, v in spreads.items()),
            fixed_verdict=verdict,
        )
        claims.append(variance)
    if terms is not None:
        for term in ("etf", "conv", "rot"):
            claims.append(Claim(f"The {term} term helps: CPT beats CPT without it (HM and tail, {LONG_TAIL})",
                                _pairs(terms, LONG_TAIL, "cpt", [f"cpt_no_{term}"], ["HM", "tail"])))  # fmt: skip
    return claims


def _cross_setting(scores: Scores, setting: str, other: str, method: str, column: str) -> PairedDifference:
    """`method` at `setting` minus `method` at `other` (the ablation axis is the setting), per seed."""
    relabelled: Scores = {}
    for (s, d, m), by_seed in scores.items():
        if m == method and s in (setting, other):
            relabelled[("ablation", d, f"{method}@{s}")] = by_seed
    diff = paired_difference(relabelled, "ablation", column, f"{method}@{setting}", f"{method}@{other}")
    diff.setting = "tau=0.06"
    return diff


def claims_lines(claims: list[Claim]) -> list[str]:
    """The Claims section as Markdown lines."""
    lines = [
        "A claim is *held* only if every comparison's mean paired difference is positive and larger than the "
        "std over seeds of that difference; *not held* if it was measured and one comparison falls short; "
        "*not measurable here* if runs are missing or the quantity is not recorded.",
        "",
        "| claim | verdict | evidence (mean ± std of per-seed differences, points) |",
        "|---|---|---|",
    ]
    lines += [f"| {claim.statement} | **{claim.verdict}** | {claim.evidence()} |" for claim in claims]
    return lines
