"""On-disk cache of a sampled training / validation subset, written atomically, never blindly trusted."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from cpt_lightning.atomic_write import atomic_write

log = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def subset_digest(subset: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a subset: equal digests mean equal subsets."""
    return hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()


def cache_file_name(key: dict[str, Any]) -> str:
    """A readable file name for a cache key, e.g. `oxford_pets_shots16_seed1_tau1.0_base_to_new.json`."""
    return "{dataset}_shots{shots}_seed{seed}_tau{tau}_{subsample}.json".format(**key)


def write_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file in the same folder, fsync it, then `os.replace` it into place.

    A crash at any point leaves either the previous file or no file at `path`, never a partial one.
    """
    with atomic_write(path, "w") as stream:
        json.dump(payload, stream)


def load_cached_subset(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cached subset at `path` if it parses, matches `key` and its digest; otherwise None.

    A rejected file is reported with a warning; the caller regenerates and overwrites it.
    Membership of the cached items in the current source lists is the caller's check.
    """
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        problem = None
        if not isinstance(payload, dict) or payload.get("version") != CACHE_FORMAT_VERSION:
            problem = "unknown format version"
        elif payload.get("key") != key:
            problem = f"its key {payload.get('key')} differs from {key}"
        elif subset_digest(payload.get("subset")) != payload.get("digest"):
            problem = "its content does not match its digest"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
        problem = f"it cannot be read ({type(error).__name__}: {error})"
    if problem is not None:
        log.warning("Ignoring subset cache %s: %s. Sampling again and overwriting it.", path, problem)
        return None
    return payload["subset"]


def save_subset(path: Path, key: dict[str, Any], subset: dict[str, Any]) -> None:
    """Store a subset with its key and digest; a read-only location only costs a warning."""
    payload = {"version": CACHE_FORMAT_VERSION, "key": key, "digest": subset_digest(subset), "subset": subset}
    try:
        write_atomically(path, payload)
    except OSError as error:
        log.warning("Could not write subset cache %s (%s); continuing without a cache.", path, error)


def assert_same_subset_on_all_ranks(digest: str, owner: str) -> None:
    """Under torch.distributed, fail unless every rank sampled exactly the same subset."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    digests: list[str | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(digests, digest)
    if len(set(digests)) > 1:
        raise RuntimeError(
            f"{owner}: ranks sampled different subsets (digests {digests}). Every rank must see the same "
            "files under `root` and use the same `seed`; check that the dataset is identical on all nodes."
        )
