"""`cpt export CKPT OUT`: a tuned classifier that runs without this library (transformers + safetensors).

A prompt-tuned CLIP classifier whose prompts touch only the text tower is the frozen image
encoder plus fixed class prototypes: `logits = logit_scale * normalize(image features) @ P.T`.
The export writes `P` (the normalised prompted text features `[K, D]`) and the logit scale as
safetensors, and the class names, the CLIP to load and its image settings as JSON; the README's
snippet classifies with them and reproduces the library's logits.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import save

from cpt_lightning import __version__
from cpt_lightning.atomic_write import atomic_write
from cpt_lightning.models.cpt_module import CPTModule
from cpt_lightning.models.frozen_clip import resolve_clip_name

TENSORS_FILE = "classifier.safetensors"
CONFIG_FILE = "classifier.json"
FORMAT = "cpt_lightning.classifier/1"


def load_module(checkpoint: str | Path) -> CPTModule:
    """The CPTModule of a `cpt fit` checkpoint (prompts and clusters restored), on the CPU, in eval mode."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"Checkpoint {checkpoint} does not exist; give the .ckpt file a `cpt fit` wrote.")
    with warnings.catch_warnings():
        # A checkpoint holds no frozen CLIP weights by design; Lightning's "missing keys" note says nothing here.
        warnings.filterwarnings("ignore", message="Found keys that are")
        module = CPTModule.load_from_checkpoint(checkpoint, map_location="cpu")
    return module.eval()


@torch.no_grad()
def export_classifier(module: CPTModule, out_dir: str | Path, classnames: list[str] | None = None) -> Path:
    """Write `classifier.safetensors` and `classifier.json` for `classnames` (default: the training classes)."""
    learner = module.prompt_learner
    if learner is not None and learner.prompts_images:
        raise ValueError(
            f"{type(learner).__name__} prompts the image encoder too, so its classifier is not a plain CLIP "
            "with fixed prototypes and cannot be exported this way; share the prompt instead "
            "(`cpt test ... --share.path OUT`)."
        )
    classnames = list(classnames) if classnames else list(module.classnames)
    clip_name = module.hparams.clip_name_or_path
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {
        "text_prototypes": module.prompted_text_features(classnames).float().contiguous(),
        "logit_scale": module.clip.logit_scale.detach().float().reshape(()).clone(),
    }
    config = {
        "format": FORMAT,
        "library_version": __version__,
        "classnames": classnames,
        # What `CLIPModel.from_pretrained` takes: the hub id, or the local directory of a path or built-in.
        "clip": resolve_clip_name(clip_name) if clip_name.startswith("builtin:") else clip_name,
        "clip_name_or_path": clip_name,
        "logit_scale": float(tensors["logit_scale"]),
        "image_settings": module.image_settings.as_dict(),
        "preprocessor_config": module.image_settings.to_preprocessor_dict(),
    }
    with atomic_write(out_dir / TENSORS_FILE) as stream:
        stream.write(save(tensors, metadata={"format": FORMAT}))
    with atomic_write(out_dir / CONFIG_FILE, "w") as stream:
        json.dump(config, stream, indent=2)
    return out_dir


def export_main(argv: list[str]) -> int:
    """`cpt export CKPT OUT [--classnames ...]`."""
    parser = argparse.ArgumentParser(
        prog="cpt export",
        description="Write a checkpoint's classifier (prototypes, logit scale, class names, CLIP and image "
        f"settings) as {TENSORS_FILE} + {CONFIG_FILE}, usable with transformers alone (README: Export).",
    )
    parser.add_argument("checkpoint", type=Path, help="a .ckpt written by `cpt fit`")
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--classnames", nargs="+", help="classes to export (default: the training classes)")
    args = parser.parse_args(argv)
    out = export_classifier(load_module(args.checkpoint), args.out, args.classnames)
    print(f"Exported the classifier to {out / TENSORS_FILE} and {out / CONFIG_FILE}.")
    return 0
