"""Per-step cost of the CPT preset (CoOp + the three NC terms) vs the CoOp preset, under Lightning.

Two `CPTModule`s with the loss terms of `configs/methods/coop.yaml` and
`configs/methods/cpt.yaml` (read from the files, so the benchmark follows the
presets) train on the same fixed batch in alternating `timed_fit` runs (see
`_timing.py`). The CPT run has `ClusterAssignmentCallback` (S = 16, cosine)
as in the run configs. Its fit-start work -- the frozen zero-shot features
`t0` and the clustering -- is timed separately and amortised over a fit of
`--fit-epochs` epochs of `--shots` images per class at the given batch size.
The loss collections alone (forward + backward on random features of the
run's shapes, 200 interleaved repeats) give the NC terms' price without the
towers' noise, and the number of ATen operators each collection runs per step
(forward + backward, counted with `torch.profiler`): at small sizes every
operator costs a few microseconds whatever its size, so the count is what the
price is made of.

    python benchmarks/nc_term_cost.py --size small --classes 100
    python benchmarks/nc_term_cost.py --size b16 --classes 100 --batch 8 --steps 5 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, imagenet_classnames, machine_line, parse_args_with_smoke, save_clip  # noqa: E402
from _timing import Stamp, fixed_batch_loader, print_comparison, print_ratio, step_times, timed_fit  # noqa: E402

from cpt_lightning.callbacks import ClusterAssignmentCallback  # noqa: E402
from cpt_lightning.clustering.assign import assign_clusters  # noqa: E402
from cpt_lightning.losses import LossInputs, LossTerm  # noqa: E402
from cpt_lightning.models import CPTModule  # noqa: E402
from cpt_lightning.models.factory_spec import resolve_factory  # noqa: E402

TARGET = 1.10
MAX_CLUSTER_SIZE = 16


def preset_loss_terms(method: str) -> list[LossTerm]:
    """Instantiate the `model.loss_terms` of the method preset `configs/methods/<method>.yaml`."""
    spec = yaml.safe_load((REPO_ROOT / "configs" / "methods" / f"{method}.yaml").read_text())
    return [resolve_factory(entry)() for entry in spec["model"]["loss_terms"]]


def fit_start_seconds(module: CPTModule) -> float:
    """Wall time of CPT's fit-start work: `t0` for every class, then the cluster assignment."""
    start = time.perf_counter()
    frozen = module.zero_shot_text_features()
    assign_clusters(frozen, MAX_CLUSTER_SIZE, "cosine")
    return time.perf_counter() - start


def random_features(module: CPTModule, batch: int, generator: torch.Generator):
    """Random unit text features (requiring a gradient), image features and labels of the module's shapes."""
    classes, dim = len(module.classnames), module.clip.config.projection_dim
    text = torch.nn.functional.normalize(torch.randn(classes, dim, generator=generator), dim=-1).requires_grad_()
    image = torch.nn.functional.normalize(torch.randn(batch, dim, generator=generator), dim=-1)
    return text, image, torch.randint(0, classes, (batch,), generator=generator)


def loss_step(module: CPTModule, text: torch.Tensor, image: torch.Tensor, labels: torch.Tensor) -> None:
    """One forward + backward of the module's loss collection, as its training step runs it after the towers."""
    frozen = module.frozen_text_features if module.frozen_text_features.numel() else None
    cluster_ids = module.cluster_ids if module.cluster_ids.numel() else None
    inputs = LossInputs(image @ text.t() * 100.0, labels, image, text, frozen, cluster_ids, module.cluster_layout)
    module.loss(inputs)[0].backward()


def loss_seconds(module: CPTModule, batch: int, generator: torch.Generator) -> float:
    """Process CPU seconds of `loss_step` on random features of the module's shapes."""
    features = random_features(module, batch, generator)
    start = time.process_time()
    loss_step(module, *features)
    return time.process_time() - start


def loss_operator_count(module: CPTModule, batch: int, generator: torch.Generator) -> int:
    """ATen operators that one `loss_step` runs, counted at the top level (an operator another operator calls
    from inside is part of the outer one), forward and backward."""
    from torch.profiler import ProfilerActivity, profile

    features = random_features(module, batch, generator)
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        loss_step(module, *features)
    return sum(
        1
        for event in profiled.events()
        if event.name.startswith("aten::")
        and (event.cpu_parent is None or not event.cpu_parent.name.startswith("aten::"))
    )


SMOKE = dict(size="small", classes=20, batch=4, steps=2, warmup=1, repeats=1, shots=2, fit_epochs=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "b16"], default="small")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="steps dropped at the start of each run")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--shots", type=int, default=16, help="images per class, for the amortisation")
    parser.add_argument("--fit-epochs", type=int, default=10, help="epochs of a fit, for the amortisation")
    parser.add_argument("--threads", type=int, default=1)
    args = parse_args_with_smoke(parser, SMOKE)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # Lightning's num_workers / logging hints are noise here

    clip_dir = str(save_clip(args.size))
    classnames = imagenet_classnames(args.classes)
    modules = {
        method: CPTModule(classnames, clip_name_or_path=clip_dir, loss_terms=preset_loss_terms(method))
        for method in ("coop", "cpt")
    }
    callbacks = {"coop": [], "cpt": [ClusterAssignmentCallback(max_cluster_size=MAX_CLUSTER_SIZE)]}
    size = modules["coop"].clip.config.vision_config.image_size
    steps = args.warmup + args.steps
    loader = fixed_batch_loader(args.batch, size, args.classes, steps + 2)
    work_dir = Path(tempfile.mkdtemp(prefix="nc_term_cost_"))

    results: dict[str, list[Stamp]] = {"coop": [], "cpt": []}
    setup_seconds = []
    for _ in range(args.repeats):
        for method, module in modules.items():
            starts = timed_fit(module, loader, steps, work_dir, callbacks=callbacks[method])
            results[method].append(step_times(starts, args.warmup))
        setup_seconds.append(fit_start_seconds(modules["cpt"]))

    # The terms alone, interleaved many times: what the step ratio measures, without the towers' noise.
    generator = torch.Generator().manual_seed(0)
    loss_times: dict[str, list[float]] = {"coop": [], "cpt": []}
    for _ in range(200):
        for method, module in modules.items():
            loss_times[method].append(loss_seconds(module, args.batch, generator))

    operators = {method: loss_operator_count(module, args.batch, generator) for method, module in modules.items()}

    fit_steps = math.ceil(args.classes * args.shots / args.batch) * args.fit_epochs
    setup = statistics.median(setup_seconds)
    print(
        f"CPT preset vs CoOp preset under Lightning; CLIP {args.size} (random weights), {args.classes} classes "
        f"(clusters of <= {MAX_CLUSTER_SIZE}), batch {args.batch} at {size}px, "
        f"{args.steps} timed steps x {args.repeats} repeats"
    )
    print(machine_line())
    print_comparison(results, "coop", "cpt", TARGET)
    coop_loss, cpt_loss = (statistics.median(loss_times[m]) for m in ("coop", "cpt"))
    coop_step = statistics.median(t[1] for t in results["coop"])
    print(
        f"loss terms alone, forward + backward (CPU, median of 200): CoOp {1e3 * coop_loss:.2f} ms, "
        f"CPT {1e3 * cpt_loss:.2f} ms; the NC terms add {1e3 * (cpt_loss - coop_loss):.2f} ms = "
        f"{100 * (cpt_loss - coop_loss) / coop_step:.2f}% of the CoOp step"
    )
    added = operators["cpt"] - operators["coop"]
    print(
        f"ATen operators per loss forward + backward: CoOp {operators['coop']}, CPT {operators['cpt']}; the NC terms "
        f"add {added}, {1e6 * (cpt_loss - coop_loss) / max(added, 1):.1f} us each on average (SVD included)"
    )
    amortised = [
        (cpt[0] + setup / fit_steps) / coop[0] for coop, cpt in zip(results["coop"], results["cpt"], strict=True)
    ]
    print(
        f"CPT fit-start work (t0 + clustering): {setup:.3f} s, over a fit of {fit_steps} steps "
        f"({args.shots} shots x {args.classes} classes / batch {args.batch} x {args.fit_epochs} epochs) "
        f"{1e3 * setup / fit_steps:.3f} ms per step"
    )
    print_ratio("cpt / coop (wall time, fit start amortised)", amortised, TARGET)


if __name__ == "__main__":
    main()
