"""Users' own data as one folder per class: `<root>/<train_dir>/<class>/*.jpg` (+ test, optional val)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.layout import (
    DatasetLayoutError,
    folder_items,
    list_class_folders,
    list_images,
)
from cpt_lightning.data.subset_plan import RawSplits


class ImageFolderDataModule(FewShotDataModule):
    """Folder-per-class data. Classes are the sorted sub-folders of `train_dir`, named after them
    with underscores as spaces; `val_dir` / `test_dir` may lack classes but not add new ones.

    Without `val_dir`, validation takes `min(shots, 4)` (4 when `shots=None`) training images
    per class that training does not use. `shots=None` (the default) trains on every image.
    """

    dataset_name = "image_folder"
    expected_layout = "\n".join(
        [
            "root/",
            "|-- train/   (one folder per class: train/<class name>/<image>.jpg)",
            "|-- test/    (the same class folders)",
            "|-- val/     (optional, see `val_dir`)",
        ]
    )

    def __init__(
        self,
        root: str,
        train_dir: str = "train",
        test_dir: str = "test",
        val_dir: str | None = None,
        shots: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.train_dir, self.test_dir, self.val_dir = train_dir, test_dir, val_dir
        self.dataset_name = f"image_folder_{Path(root).name}"
        super().__init__(root, shots=shots, **kwargs)

    def read_classnames(self) -> list[str]:
        train_dir = self.require(self.train_dir, "training folder")
        self.folders = list_class_folders(train_dir)
        if not self.folders:
            raise DatasetLayoutError(
                f"ImageFolder: {train_dir} has no class folders; expected {train_dir}/<class name>/<image>."
            )
        return [folder.replace("_", " ") for folder in self.folders]

    def _eval_items(self, directory: Path) -> list[tuple[str, int]]:
        extra = sorted(set(list_class_folders(directory)) - set(self.folders))
        if extra:
            raise DatasetLayoutError(
                f"ImageFolder: {directory} has class folders {extra[:5]} that {self.root / self.train_dir} "
                "lacks. Class names must match across splits: rename or remove those folders."
            )
        label_of = {folder: label for label, folder in enumerate(self.folders)}
        return [
            (str(path), label_of[folder])
            for folder in list_class_folders(directory)
            for path in list_images(directory / folder)
        ]

    def read_splits(self) -> RawSplits:
        test_dir = self.require(self.test_dir, "test folder")
        val = None
        if self.val_dir is not None:
            val_dir = self.require(self.val_dir, "val folder")
            val = self._eval_items(val_dir)
        return RawSplits(
            train=folder_items(self.root / self.train_dir, self.folders, "ImageFolder"),
            val=val,
            test=self._eval_items(test_dir),
        )
