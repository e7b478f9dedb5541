"""A folder of new, unlabelled images to classify with `cpt predict`."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from cpt_lightning.data.image_dataset import LabelledImageDataset
from cpt_lightning.data.layout import DatasetLayoutError, is_image_file
from cpt_lightning.data.model_interface import resolve_image_settings
from cpt_lightning.data.transforms import EvalTransform
from cpt_lightning.data.unpadded_sampler import eval_sampler
from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.labels import UNLABELLED


def classnames_of_checkpoint(checkpoint: str | Path) -> list[str]:
    """The training class names a `cpt fit` checkpoint stores (`cpt_classnames`)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    names = state.get("cpt_classnames")
    if not names:
        raise ValueError(
            f"Checkpoint {checkpoint} stores no class names (`cpt_classnames`): it was not written by "
            "CPTModule. Pass the class names instead (`classnames: [...]`)."
        )
    return list(names)


class UnlabelledImagesDataModule(L.LightningDataModule):
    """Every image file under `root` (sub-folders included, sorted by path), for `cpt predict` only.

    The classes to choose from are `classnames`, or the training classes stored in `checkpoint`
    (usually the `--ckpt_path` being predicted with); give exactly one. Images are prepared as
    for testing (the CLIP's resize, centre crop and normalisation).

        cpt predict --config cpt:demo --ckpt_path last.ckpt \\
            --data cpt_lightning.data.UnlabelledImagesDataModule \\
            --data.root my_images --data.checkpoint last.ckpt
    """

    def __init__(
        self,
        root: str,
        classnames: list[str] | None = None,
        checkpoint: str | None = None,
        batch_size: int = 100,
        num_workers: int = 4,
        image_settings: ImageSettings | None = None,
    ) -> None:
        super().__init__()
        if (classnames is None) == (checkpoint is None):
            raise ValueError(
                "UnlabelledImagesDataModule needs the classes to predict: give `classnames` or `checkpoint` "
                f"(a checkpoint whose training classes to use), exactly one; got classnames={classnames!r}, "
                f"checkpoint={checkpoint!r}."
            )
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetLayoutError(f"UnlabelledImagesDataModule: image folder {self.root} does not exist.")
        self.paths = sorted(path for path in self.root.rglob("*") if is_image_file(path))
        if not self.paths:
            raise DatasetLayoutError(
                f"UnlabelledImagesDataModule: no image files under {self.root} (looked for the usual image "
                "suffixes, sub-folders included)."
            )
        self.classnames = list(classnames) if classnames is not None else classnames_of_checkpoint(checkpoint)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.image_settings = image_settings

    def setup(self, stage: str | None = None) -> None:
        if stage not in (None, "predict"):
            raise RuntimeError(
                f"UnlabelledImagesDataModule has no labels, so it serves `cpt predict` only; got stage {stage!r}."
            )
        self._transform = EvalTransform(resolve_image_settings(self))

    def predict_dataloader(self) -> DataLoader:
        items = [(str(path), UNLABELLED) for path in self.paths]
        dataset = LabelledImageDataset(items, self._transform)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=eval_sampler(dataset),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def prediction_keys(self) -> list[list[str]]:
        return [[str(path) for path in self.paths]]
