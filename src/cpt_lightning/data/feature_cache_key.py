"""The key of a feature-cache file: digests of everything an image's frozen features depend on.

The image tower's weights, the transform's code and image settings, and the item list (keys,
labels, file sizes and times); `cpt_lightning.data.feature_cache` stores features under the digest
of a key built from these, so a change of any of them gives another file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict
from typing import Any

import torch

from cpt_lightning.models.frozen_clip import FrozenClip


def image_tower_fingerprint(clip: FrozenClip) -> str:
    """SHA-256 of the vision config and every weight of the image tower and its projection (bytes).

    Hashing the bytes (about a third of a second for ViT-B/16 on a CPU) rather
    than a file name or a sample of weights means a fine-tuned or re-converted
    checkpoint can never be mistaken for the one the cache was built from.
    """
    digest = hashlib.sha256()
    model = clip.model
    config = {"vision": model.config.vision_config.to_dict(), "projection_dim": model.config.projection_dim}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for prefix, module in (("vision_model.", model.vision_model), ("visual_projection.", model.visual_projection)):
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(f"{prefix}{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.detach().reshape(-1).contiguous().cpu().view(torch.uint8).numpy())
    return digest.hexdigest()


def transform_identity(transform: Any) -> dict[str, Any]:
    """The transform's class, the SHA-256 of its source code, its image settings and its crop scale (if any)."""
    cls = type(transform)
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = repr(transform)
    settings = getattr(transform, "settings", None)
    identity = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "settings": asdict(settings) if settings is not None else None,
    }
    scale = getattr(transform, "scale", None)
    if scale is not None:  # the training crop's area range changes every augmented view
        identity["scale"] = list(scale)
    return identity


def items_digest(items: Sequence[tuple[Hashable, int]], describe: Callable[[Hashable], str] = str) -> str:
    """SHA-256 over `(describe(key), label)` of every item, in order."""
    digest = hashlib.sha256()
    for key, label in items:
        digest.update(f"{describe(key)}\t{int(label)}\n".encode())
    return digest.hexdigest()


def describe_image_file(key: Hashable) -> str:
    """A path with its size and modification time, so a replaced image changes the key; other keys as they are."""
    try:
        stat = os.stat(str(key))
    except (OSError, ValueError):
        return str(key)
    return f"{key}|{stat.st_size}|{stat.st_mtime_ns}"


def cache_digest(key: dict[str, Any]) -> str:
    """The file name stem of a cache key: SHA-256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:40]
