"""ImageNet in CoOp's layout: `images/train/<wnid>/`, `images/val/<wnid>/` and `classnames.txt`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.layout import (
    DatasetLayoutError,
    folder_items,
    list_class_folders,
    read_imagenet_classnames,
)
from cpt_lightning.data.subset_plan import RawSplits

IMAGENET_LAYOUT = "\n".join(
    [
        "imagenet/",
        "|-- images/",
        "|   |-- train/   (1,000 folders n01440764, n01443537, ... of JPEGs)",
        "|   |-- val/     (the same 1,000 folders; ImageNet's val set is the test set)",
        "|-- classnames.txt   (`<wnid> <class name>` per line, CoOp's file)",
    ]
)


def imagenet_folder_items(directory: Path, wnids: list[str], dataset: str) -> list[tuple[str, int]]:
    """Images of `directory/<wnid>/`, labelled by the wnid's position in `classnames.txt`.

    A folder that `classnames.txt` does not list means the class names do not match the images.
    """
    unknown = sorted(set(list_class_folders(directory)) - set(wnids))
    if unknown:
        raise DatasetLayoutError(
            f"{dataset}: {directory} has folders {unknown[:5]} ({len(unknown)} in all) that classnames.txt "
            "does not list. The class-name file and the images do not match; use CoOp's classnames.txt."
        )
    return folder_items(directory, wnids, dataset)


class ImageNetDataModule(FewShotDataModule):
    """ImageNet-1k, labels in `classnames.txt` order (sorted wnids, as CoOp's sorted folders).

    The test set is `images/val` (CoOp). ImageNet has no separate val split, so validation takes
    `min(shots, 4)` unused training images per class. `train_dir` / `test_dir` (relative to
    `root`) let other folder-per-wnid layouts be read, e.g. `train_dir="images", test_dir="images"`
    for a flat `images/<wnid>/` sample such as `../shared/datasets/imagenet-sample`.
    """

    dataset_name = "imagenet"
    expected_layout = IMAGENET_LAYOUT

    def __init__(self, root: str, train_dir: str = "images/train", test_dir: str = "images/val", **kwargs: Any) -> None:
        self.train_dir, self.test_dir = train_dir, test_dir
        super().__init__(root, **kwargs)

    def read_classnames(self) -> list[str]:
        path = self.require("classnames.txt", "class-name file")
        self.wnids, names = read_imagenet_classnames(path)
        return names

    def read_splits(self) -> RawSplits:
        train_dir = self.require(self.train_dir, "training folder")
        test_dir = self.require(self.test_dir, "test folder")
        return RawSplits(
            train=imagenet_folder_items(train_dir, self.wnids, "ImageNet"),
            val=None,
            test=imagenet_folder_items(test_dir, self.wnids, "ImageNet"),
        )
