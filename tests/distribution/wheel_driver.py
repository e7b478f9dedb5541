"""Run inside a fresh venv holding only the built wheel, outside any checkout (see test_wheel.py).

Blocks the optional extras (`wandb`, `datasets`) first, so what runs is the core of an install
without them. Each step goes through the installed `cpt` (or `cpt-reproduce`) console-script entry point.
Usage: python wheel_driver.py SNIPPET_FILE
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

for blocked in ("wandb", "datasets"):
    sys.modules[blocked] = None  # `import wandb` now raises ImportError, as when it is not installed

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import cpt_lightning  # noqa: E402

TINY_DEMO = [
    "--trainer.max_steps=2",
    "--trainer.enable_progress_bar=false",
    "--data.init_args.shots=2",
    "--data.init_args.train_pool_per_class=2",
    "--data.init_args.val_pool_per_class=1",
    "--data.init_args.test_per_class=1",
]


def console_script(name: str, *args: str) -> None:
    """`NAME ARGS` through the installed console-script entry point, in this process: the script's
    wrapper calls `sys.exit` on what the entry point returns, so a status of 0 or None is success."""
    (entry,) = entry_points(group="console_scripts", name=name)
    sys.argv = [name, *args]
    try:
        status = entry.load()()
    except SystemExit as exit_info:
        status = exit_info.code
    assert status in (0, None), f"{name} {' '.join(args)} exited with {status}"


def cpt(*args: str) -> None:
    console_script("cpt", *args)


def main() -> None:
    snippet = Path(sys.argv[1]).read_text()
    report = {"package": cpt_lightning.__file__}
    cpt("fit", "--config", "cpt:demo", *TINY_DEMO)
    checkpoint = Path("outputs/demo/checkpoints/last.ckpt")
    assert checkpoint.is_file()
    cpt("test", "--config", "cpt:demo", "--ckpt_path", str(checkpoint), *TINY_DEMO[1:])

    folder = Path("new_images")
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (32, 32), (80 * index, 40, 200 - 60 * index)).save(folder / f"image_{index}.png")
    predict_data = ["--data", "cpt_lightning.data.UnlabelledImagesDataModule", "--data.root", str(folder)]
    predict_data += ["--data.checkpoint", str(checkpoint), "--data.num_workers", "0"]
    cpt("predict", "--config", "cpt:demo", "--ckpt_path", str(checkpoint), *predict_data, "--predictions.path=p.csv")
    report["predictions"] = Path("p.csv").read_text().splitlines()

    cpt("export", str(checkpoint), "exported")
    from cpt_lightning.data.transforms import EvalTransform
    from cpt_lightning.models.export import load_module

    module = load_module(checkpoint)
    transform = EvalTransform(module.image_settings)
    pixel_values = torch.stack([transform(Image.open(path)) for path in sorted(folder.iterdir())])
    with torch.no_grad():
        expected = module.logits(module.encode_images(pixel_values), module.prompted_text_features())
    namespace: dict = {}
    exec(compile(snippet, "README export snippet", "exec"), namespace)
    report["snippet_max_error"] = float((namespace["classify"](pixel_values) - expected).abs().max())
    report["extras_blocked"] = all(sys.modules[name] is None for name in ("wandb", "datasets"))

    dry_run = io.StringIO()
    with contextlib.redirect_stdout(dry_run):
        console_script("cpt-reproduce", "cpt:world/protocol", "--dry-run", "--seeds", "1")
    report["reproduce_dry_run"] = dry_run.getvalue().splitlines()
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    main()
