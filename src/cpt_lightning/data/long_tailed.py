"""The long-tailed benchmarks ImageNet-LT and Places-LT, read from their standard list files.

`<Name>_{train,val,test}.txt` hold lines `<image path> <label>` with paths relative to
`image_root`. By default every listed training image is used (`shots=None`); the head / medium /
tail groups are the benchmark's many / medium / few split: more than 100, 20 to 100, fewer than
20 training images per class.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.layout import DatasetLayoutError, read_imagenet_classnames, require_path
from cpt_lightning.data.sampling import groups_by_count
from cpt_lightning.data.subset_plan import RawSplits

MANY_SHOT_ABOVE = 100
FEW_SHOT_BELOW = 20


class ListFileDataModule(FewShotDataModule):
    """A benchmark given as `<list_prefix>_{train,val,test}.txt` files in `root`."""

    list_prefix: ClassVar[str] = ""

    def __init__(self, root: str, image_root: str | None = None, shots: int | None = None, **kwargs: Any) -> None:
        self.image_root = Path(image_root).expanduser() if image_root else Path(root).expanduser()
        self._lists: dict[str, list[tuple[str, int]]] = {}
        super().__init__(root, shots=shots, **kwargs)

    def read_list(self, split: str) -> list[tuple[str, int]]:
        """`(relative path, label)` pairs of `<list_prefix>_<split>.txt`."""
        if split not in self._lists:
            path = self.require(f"{self.list_prefix}_{split}.txt", "list file")
            items = []
            for line_number, line in enumerate(path.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                parts = line.rsplit(maxsplit=1)
                if len(parts) != 2 or not parts[1].isdigit():
                    raise DatasetLayoutError(
                        f"{type(self).__name__}: {path} line {line_number} is {line!r}; expected "
                        "`<relative image path> <integer label>`. Download the list file again."
                    )
                items.append((parts[0].strip().lstrip("/"), int(parts[1])))
            self._lists[split] = items
        return self._lists[split]

    def read_splits(self) -> RawSplits:
        require_path(self.image_root, type(self).__name__, self.expected_layout, "image root")

        def resolved(split: str) -> list[tuple[str, int]]:
            return [(str(self.image_root / path), label) for path, label in self.read_list(split)]

        return RawSplits(train=resolved("train"), val=resolved("val"), test=resolved("test"))

    def benchmark_class_counts(self) -> list[int]:
        counts = Counter(label for _, label in self.read_list("train"))
        return [counts.get(k, 0) for k in range(len(self.all_classnames))]

    def benchmark_class_groups(self) -> list[str]:
        return groups_by_count(self.benchmark_class_counts(), MANY_SHOT_ABOVE, FEW_SHOT_BELOW)


class ImageNetLTDataModule(ListFileDataModule):
    """ImageNet-LT (Liu et al. 2019): 1,000 classes, 1,280 to 5 training images per class.

    `root` holds `ImageNet_LT_{train,val,test}.txt` and CoOp's `classnames.txt`; list paths such
    as `train/n01440764/n01440764_190.JPEG` resolve under `image_root` (CoOp's `imagenet/images`).
    """

    dataset_name = "imagenet_lt"
    list_prefix = "ImageNet_LT"
    expected_layout = "\n".join(
        [
            "imagenet_lt/   (root)",
            "|-- ImageNet_LT_train.txt   (`train/<wnid>/<file>.JPEG <label>` per line)",
            "|-- ImageNet_LT_val.txt",
            "|-- ImageNet_LT_test.txt    (`val/<wnid>/<file>.JPEG <label>`)",
            "|-- classnames.txt          (CoOp's ImageNet file)",
            "image_root (default: root), e.g. imagenet/images/ with train/ and val/",
        ]
    )

    def read_classnames(self) -> list[str]:
        path = self.require("classnames.txt", "class-name file")
        _, names = read_imagenet_classnames(path, "ImageNetLT")
        return names


def places_name_from_path(path: str) -> str:
    """Places365 class from a path such as `data_256/a/apartment_building/outdoor/0001.jpg`.

    The class is everything between the one-letter folder and the file, underscores as spaces:
    "apartment building outdoor".
    """
    parts = PurePosixPath(path).parent.parts
    letters = [i for i, part in enumerate(parts) if len(part) == 1 and part.isalpha()]
    tail = parts[letters[0] + 1 :] if letters else parts[-1:]
    return " ".join(tail).replace("_", " ")


class PlacesLTDataModule(ListFileDataModule):
    """Places-LT (Liu et al. 2019): 365 scene classes, 4,980 to 5 training images per class.

    `root` holds `Places_LT_{train,val,test}.txt`; paths resolve under `image_root` (the Places365
    folder holding `data_256/` and `val_256/`). Class names come from an optional `classnames.txt`
    (one per line, label order) or else from the training paths' category folders.
    """

    dataset_name = "places_lt"
    list_prefix = "Places_LT"
    expected_layout = "\n".join(
        [
            "places_lt/   (root)",
            "|-- Places_LT_train.txt   (`data_256/a/airfield/00000001.jpg <label>` per line)",
            "|-- Places_LT_val.txt",
            "|-- Places_LT_test.txt",
            "|-- classnames.txt        (optional; one class name per line)",
            "image_root (default: root): the Places365 folder with data_256/ and val_256/",
        ]
    )

    def read_classnames(self) -> list[str]:
        names_file = self.root / "classnames.txt"
        if names_file.is_file():
            return [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
        names: dict[int, str] = {}
        for path, label in self.read_list("train"):
            name = places_name_from_path(path)
            if names.setdefault(label, name) != name:
                raise DatasetLayoutError(
                    f"PlacesLT: label {label} is listed under folders {names[label]!r} and {name!r} in "
                    "Places_LT_train.txt, so class names cannot be read from paths. Put a classnames.txt "
                    "(one name per line, label order) into root."
                )
        if sorted(names) != list(range(len(names))):
            raise DatasetLayoutError(
                "PlacesLT: Places_LT_train.txt does not cover labels 0..K-1; every class needs training images."
            )
        return [names[label] for label in range(len(names))]
