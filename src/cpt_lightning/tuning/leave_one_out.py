"""Leave-one-out ablation presets: a tuned preset with one NC term's weight set to 0, all else equal.

    python -m cpt_lightning.tuning.leave_one_out configs/tuned/world/cpt.yaml

writes `cpt_no_etf.yaml`, `cpt_no_conv.yaml` and `cpt_no_rot.yaml` beside it (a term of weight 0 is
skipped by `LossCollection`, so the run is the tuned method without that term; its other weights,
variants, learning rate and epochs stay the tuned ones, as an ablation needs).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

from cpt_lightning.atomic_write import atomic_write

NC_TERMS = {
    "etf": "cpt_lightning.losses.EtfSeparationTerm",
    "conv": "cpt_lightning.losses.ClassConvergenceTerm",
    "rot": "cpt_lightning.losses.RotationStabilizationTerm",
}


def without_term(config: dict[str, Any], term: str) -> dict[str, Any]:
    """A copy of a `--config` mapping (terms under `model.loss_terms`) with `term`'s weight set to 0."""
    class_path = NC_TERMS[term]
    ablated = copy.deepcopy(config)
    entries = [entry for entry in ablated.get("model", {}).get("loss_terms", []) if entry["class_path"] == class_path]
    if len(entries) != 1:
        raise ValueError(
            f"The preset has {len(entries)} {class_path} terms under model.loss_terms; leaving one out needs "
            "exactly one. Pass a tuned CPT preset (cpt-tune's cpt.yaml or cpt_la.yaml)."
        )
    entries[0].setdefault("init_args", {})["weight"] = 0.0
    return ablated


def write_leave_one_out(preset: Path, out_dir: Path | None = None) -> list[Path]:
    """Write `<stem>_no_<term>.yaml` for each NC term of `preset`; return the paths."""
    config = yaml.safe_load(preset.read_text())
    out_dir = out_dir or preset.parent
    paths = []
    for term in NC_TERMS:
        path = out_dir / f"{preset.stem}_no_{term}.yaml"
        header = f"# {preset.name} without its {term} term (weight 0); written by cpt_lightning.tuning.leave_one_out.\n"
        with atomic_write(path, "w") as stream:
            stream.write(header + yaml.safe_dump(without_term(config, term), sort_keys=False))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", type=Path, help="a tuned CPT preset (a --config file)")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: the preset's)")
    args = parser.parse_args(argv)
    for path in write_leave_one_out(args.preset, args.out):
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
