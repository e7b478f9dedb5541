"""Checks that the images a data module lists are there (and, on request, decode) before any training.

The stat pass is cheap (one `os.stat` per listed file) and runs wherever splits are listed, so a
missing file stops the run before the CLIP loads, before a subset cache is written and before
an epoch is spent. Decoding every image once is slower and opt-in (`cpt fit --verify_images true`
or `datamodule.verify_files(decode=True)`); it reports every bad file in one error.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path

from PIL import Image

from cpt_lightning.data.layout import DatasetLayoutError
from cpt_lightning.progress import progress

SHOWN = 20  # files listed in an error; the count covers the rest


class BadImagesError(DatasetLayoutError):
    """Listed image files are missing or cannot be decoded."""


def missing_files(splits: dict[str, Sequence[tuple[Hashable, int]]], file_of: Callable[[Hashable], Path | None]):
    """`{split: [missing file, ...]}` for every listed key whose file does not exist."""
    missing: dict[str, list[str]] = {}
    for split, items in splits.items():
        for key, _ in items:
            path = file_of(key)
            if path is not None and not path.is_file():
                missing.setdefault(split, []).append(str(path))
    return missing


def undecodable_images(
    keys: Sequence[Hashable], load_image: Callable[[Hashable], Image.Image]
) -> list[tuple[Hashable, str]]:
    """`[(key, reason), ...]` for every key whose image fails to load and decode."""
    bad = []
    for key in progress(keys, desc="Decoding every image once"):
        try:
            load_image(key)
        except (OSError, RuntimeError, ValueError, SyntaxError) as error:
            cause = error.__cause__ if error.__cause__ is not None else error
            bad.append((key, f"{type(cause).__name__}: {cause}"))
    return bad


def raise_if_bad(owner: str, missing: dict[str, list[str]], undecodable: list[tuple[Hashable, str]]) -> None:
    """One error listing every missing and every undecodable file, with the fix; nothing when all are fine."""
    if not missing and not undecodable:
        return
    lines = []
    count = sum(len(files) for files in missing.values())
    if count:
        per_split = ", ".join(f"{split}: {len(files)}" for split, files in missing.items())
        shown = [path for files in missing.values() for path in files][:SHOWN]
        lines.append(f"{count} listed image files are missing ({per_split}): " + ", ".join(shown))
    if undecodable:
        shown = [f"{key} ({reason})" for key, reason in undecodable[:SHOWN]]
        lines.append(f"{len(undecodable)} image files cannot be decoded: " + "; ".join(shown))
    more = count + len(undecodable) > SHOWN
    raise BadImagesError(
        f"{owner}: " + ". ".join(lines) + (" ..." if more else "") + ". Nothing was trained and no subset cache "
        "was written. Restore these files (re-extract the dataset archive), or remove them from the split "
        "file / class folder that lists them."
    )


def verify_listed_images(
    owner: str,
    splits: Mapping[str, Sequence[tuple[Hashable, int]]],
    file_of: Callable[[Hashable], Path | None],
    load_image: Callable[[Hashable], Image.Image] | None = None,
) -> None:
    """Stat every listed file (`file_of(key)`, None for keys that are no files); with `load_image`, also
    decode every image whose file is there. Raises one `BadImagesError` listing every bad file."""
    missing = missing_files(splits, file_of)
    undecodable: list[tuple[Hashable, str]] = []
    if load_image is not None:
        absent = {path for files in missing.values() for path in files}
        keys = list(dict.fromkeys(key for items in splits.values() for key, _ in items))
        undecodable = undecodable_images([key for key in keys if str(file_of(key)) not in absent], load_image)
    raise_if_bad(owner, missing, undecodable)
