"""Reading on-disk layouts: root checks, CoOp split files, class-name files, class folders.

Every failure raises `DatasetLayoutError` with what was expected, what was found and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})

SplitRecord = tuple[str, int, str]  # (image path, label, class name)


class DatasetLayoutError(ValueError):
    """The files on disk do not match the layout a data module reads."""


def require_root(root: Path, dataset: str, expected_layout: str) -> None:
    """Fail with the expected layout when `root` is missing or is not a directory."""
    if root.is_dir():
        return
    raise DatasetLayoutError(
        f"{dataset}: root {root} does not exist or is not a directory. Expected this layout "
        f"under `root` (CoOp's DATASETS.md; see docs/DATASETS.md):\n{expected_layout}\n"
        "Set `--data.init_args.root` to the folder that holds it."
    )


def require_path(path: Path, dataset: str, expected_layout: str, what: str) -> Path:
    """Fail with the expected layout when a file or folder inside the root is missing."""
    if path.exists():
        return path
    present = sorted(p.name for p in path.parent.iterdir())[:20] if path.parent.is_dir() else []
    raise DatasetLayoutError(
        f"{dataset}: {what} {path} is missing (found in {path.parent}: {present or 'nothing'}). "
        f"Expected layout under `root`:\n{expected_layout}\nSee docs/DATASETS.md for where to get it."
    )


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(directory: Path) -> list[Path]:
    """The image files directly inside `directory`, sorted by name (hidden files skipped)."""
    return sorted(p for p in directory.iterdir() if is_image_file(p))


def list_class_folders(directory: Path) -> list[str]:
    """Sub-folder names of `directory`, sorted, hidden ones skipped."""
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_items(directory: Path, folders: list[str], dataset: str) -> list[tuple[str, int]]:
    """Items `(path, label)` with label = position in `folders`; a folder without images is an error."""
    items: list[tuple[str, int]] = []
    for label, folder in enumerate(folders):
        class_dir = directory / folder
        if not class_dir.is_dir():
            raise DatasetLayoutError(
                f"{dataset}: class folder {class_dir} is missing. Every class needs a folder of images; "
                "restore it from the dataset archive."
            )
        images = list_images(class_dir)
        if not images:
            raise DatasetLayoutError(
                f"{dataset}: class folder {class_dir} holds no images (suffixes {sorted(IMAGE_SUFFIXES)}). "
                "Every class needs at least one image: restore its files or remove the class."
            )
        items.extend((str(path), label) for path in images)
    return items


def read_imagenet_classnames(path: Path, dataset: str = "ImageNet") -> tuple[list[str], list[str]]:
    """CoOp's `classnames.txt`: one `<wnid> <class name>` per line, in ImageNet label order."""
    wnids: list[str] = []
    names: list[str] = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(" ", 1)
        if len(parts) != 2 or not parts[0].startswith("n"):
            raise DatasetLayoutError(
                f"{dataset}: {path} line {line_number} is {line!r}; expected `<wnid> <class name>` "
                "such as `n01440764 tench`. Download CoOp's classnames.txt (docs/DATASETS.md)."
            )
        wnids.append(parts[0])
        names.append(parts[1].strip())
    if len(set(wnids)) != len(wnids):
        raise DatasetLayoutError(f"{dataset}: {path} lists a wnid more than once; use CoOp's classnames.txt.")
    return wnids, names


def read_split_file(path: Path, dataset: str) -> dict[str, list[SplitRecord]]:
    """CoOp's `split_zhou_*.json`: `{"train"|"val"|"test": [[relative path, label, class name], ...]}`."""
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetLayoutError(
            f"{dataset}: split file {path} is not valid JSON ({error}). Download it again (docs/DATASETS.md)."
        ) from error
    if not isinstance(content, dict) or not {"train", "val", "test"} <= set(content):
        found = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise DatasetLayoutError(
            f"{dataset}: split file {path} must be an object with keys 'train', 'val', 'test'; found "
            f"{found}. Download CoOp's split file again (docs/DATASETS.md)."
        )
    splits: dict[str, list[SplitRecord]] = {}
    for split in ("train", "val", "test"):
        records = content[split]
        if not isinstance(records, list) or not records:
            raise DatasetLayoutError(f"{dataset}: split {split!r} of {path} is empty or not a list.")
        parsed: list[SplitRecord] = []
        for index, record in enumerate(records):
            if not (
                isinstance(record, list)
                and len(record) == 3
                and isinstance(record[0], str)
                and isinstance(record[1], int)
                and isinstance(record[2], str)
            ):
                raise DatasetLayoutError(
                    f"{dataset}: entry {index} of split {split!r} in {path} is {record!r}; expected "
                    "[relative image path, integer label, class name]. Download the split file again."
                )
            parsed.append((record[0], record[1], record[2]))
        splits[split] = parsed
    return splits


def classnames_from_records(records: list[SplitRecord], source: Path, dataset: str) -> list[str]:
    """Class names in label order from split records; labels must be 0..K-1, one name each."""
    names: dict[int, str] = {}
    for _, label, name in records:
        if names.setdefault(label, name) != name:
            raise DatasetLayoutError(
                f"{dataset}: label {label} in {source} is named both {names[label]!r} and {name!r}. "
                "The split file is inconsistent; download it again."
            )
    labels = sorted(names)
    if labels != list(range(len(labels))):
        missing = sorted(set(range(max(labels) + 1)) - set(labels))
        raise DatasetLayoutError(
            f"{dataset}: the training split of {source} has no images for labels {missing[:10]}; every "
            "class needs at least one training image. Download the split file again."
        )
    return [names[label] for label in labels]


def check_records_match(
    records: list[SplitRecord], classnames: list[str], source: Path, split: str, dataset: str
) -> None:
    """Every record's (label, class name) must agree with the training split's class list."""
    for path, label, name in records:
        if label >= len(classnames) >= 1 and label >= 0:
            raise DatasetLayoutError(
                f"{dataset}: split {split!r} of {source} has images of label {label} ({name!r}, e.g. {path}), "
                f"but the training split has no images of it (its labels stop at {len(classnames) - 1}). Every "
                "class needs at least one training image: restore its training images or download the split "
                "file again."
            )
        if not 0 <= label < len(classnames) or classnames[label] != name:
            expected = classnames[label] if 0 <= label < len(classnames) else "no such label"
            raise DatasetLayoutError(
                f"{dataset}: split {split!r} of {source} gives {path} label {label} named {name!r}, but the "
                f"training split names label {label} {expected!r}. Class names do not match across "
                "splits; download the split file again."
            )


def check_split_labels(splits: Any, classnames: Sequence[str], dataset: str, require_train: bool = True) -> None:
    """Fail unless every item's label names one of `classnames` and (`require_train`) every class has
    training images. `splits`: a `RawSplits` (train, val or None, test lists of `(key, label)`)."""
    num_classes = len(classnames)
    for split_name, items in (("train", splits.train), ("val", splits.val or []), ("test", splits.test)):
        bad = [item for item in items if not 0 <= item[1] < num_classes]
        if bad:
            raise DatasetLayoutError(
                f"{dataset}: {split_name} item {bad[0][0]} has label {bad[0][1]}, outside "
                f"0..{num_classes - 1} of the {num_classes} class names. The split and class-name "
                "files do not match; use the files from docs/DATASETS.md."
            )
    if not require_train:
        return
    seen = {label for _, label in splits.train}
    empty = [k for k in range(num_classes) if k not in seen]
    if empty:
        raise DatasetLayoutError(
            f"{dataset}: class {classnames[empty[0]]!r} (label {empty[0]}) has no "
            f"training images ({len(empty)} classes have none). Restore its images or fix the split."
        )
