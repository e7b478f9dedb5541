"""Test-only domain-shift sets for ImageNet-trained prompts: ImageNetV2, -Sketch, -A, -R.

`classnames` are ImageNet's 1,000 (the classes a model evaluated here was trained on, so its
checkpoint loads); `eval_classnames["all"]` are the classes of the shifted set -- all 1,000 for
V2 and Sketch, the official 200 for A and R -- and labels index into that list.
`eval_class_indices["all"]` maps each evaluated class to its ImageNet label.
"""

from __future__ import annotations

from typing import ClassVar

from cpt_lightning.data.feature_cache import FeatureCacheConfig
from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.imagenet import imagenet_folder_items
from cpt_lightning.data.imagenet_subsets import IMAGENET_A_WNIDS, IMAGENET_R_WNIDS
from cpt_lightning.data.layout import (
    DatasetLayoutError,
    folder_items,
    list_class_folders,
    read_imagenet_classnames,
)
from cpt_lightning.data.subset_plan import RawSplits
from cpt_lightning.image_settings import ImageSettings


class ImageNetShiftDataModule(FewShotDataModule):
    """Base of the test-only sets: `<root>/classnames.txt` plus one image folder per class."""

    test_only = True
    image_dir: ClassVar[str] = ""
    subset_wnids: ClassVar[tuple[str, ...] | None] = None  # None: all 1,000 ImageNet classes

    def __init__(
        self,
        root: str,
        eval_batch_size: int = 100,
        num_workers: int = 4,
        image_settings: ImageSettings | None = None,
        feature_cache: FeatureCacheConfig | None = None,
    ) -> None:
        super().__init__(
            root,
            shots=None,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            image_settings=image_settings,
            use_cache=False,
            feature_cache=feature_cache,
        )
        self.classnames = list(self.imagenet_classnames)
        self.class_groups = None
        self.eval_class_indices: dict[str, list[int]] = {"all": list(self.imagenet_indices)}

    def read_classnames(self) -> list[str]:
        path = self.require("classnames.txt", "class-name file")
        self.imagenet_wnids, self.imagenet_classnames = read_imagenet_classnames(path, type(self).__name__)
        if len(self.imagenet_wnids) != 1000:
            raise DatasetLayoutError(
                f"{type(self).__name__}: {path} lists {len(self.imagenet_wnids)} classes; expected "
                "ImageNet's 1,000. Copy `imagenet/classnames.txt` here (docs/DATASETS.md)."
            )
        wanted = self.subset_wnids or tuple(self.imagenet_wnids)
        index_of = {wnid: label for label, wnid in enumerate(self.imagenet_wnids)}
        missing = [wnid for wnid in wanted if wnid not in index_of]
        if missing:
            raise DatasetLayoutError(
                f"{type(self).__name__}: classnames.txt lacks wnids {missing[:5]}; use CoOp's ImageNet file."
            )
        self.wnids = list(wanted)
        self.imagenet_indices = [index_of[wnid] for wnid in wanted]
        return [self.imagenet_classnames[k] for k in self.imagenet_indices]

    def read_splits(self) -> RawSplits:
        image_dir = self.require(self.image_dir, "image folder")
        missing = sorted(set(self.wnids) - set(list_class_folders(image_dir)))
        if missing:
            raise DatasetLayoutError(
                f"{type(self).__name__}: {image_dir} lacks the class folders {missing[:5]} ({len(missing)} "
                "in all). The archive is incomplete; extract it again (docs/DATASETS.md)."
            )
        test = imagenet_folder_items(image_dir, self.wnids, type(self).__name__)
        return RawSplits(train=[], val=None, test=test)

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", "validate"):
            raise RuntimeError(f"{type(self).__name__} is a test-only dataset; use it with `cpt test`.")
        super().setup(stage)

    def val_dataloader(self) -> list:
        raise RuntimeError(f"{type(self).__name__} is a test-only dataset; use it with `cpt test`.")


class ImageNetV2DataModule(ImageNetShiftDataModule):
    """ImageNetV2 matched-frequency: `imagenetv2-matched-frequency-format-val/<ImageNet label>/`."""

    dataset_name = "imagenetv2"
    image_dir = "imagenetv2-matched-frequency-format-val"
    expected_layout = "\n".join(
        [
            "imagenetv2/",
            "|-- imagenetv2-matched-frequency-format-val/   (folders 0 .. 999, ImageNet labels)",
            "|-- classnames.txt   (copied from imagenet/)",
        ]
    )

    def read_splits(self) -> RawSplits:
        image_dir = self.require(self.image_dir, "image folder")
        folders = [str(label) for label in range(1000)]
        return RawSplits(train=[], val=None, test=folder_items(image_dir, folders, "ImageNetV2"))


class ImageNetSketchDataModule(ImageNetShiftDataModule):
    """ImageNet-Sketch: `imagenet-sketch/images/<wnid>/` for all 1,000 classes."""

    dataset_name = "imagenet-sketch"
    image_dir = "images"
    expected_layout = "\n".join(
        [
            "imagenet-sketch/",
            "|-- images/   (1,000 folders n01440764, ...)",
            "|-- classnames.txt   (copied from imagenet/)",
        ]
    )


class ImageNetADataModule(ImageNetShiftDataModule):
    """ImageNet-A: `imagenet-adversarial/imagenet-a/<wnid>/` for its 200 classes."""

    dataset_name = "imagenet-adversarial"
    image_dir = "imagenet-a"
    subset_wnids = IMAGENET_A_WNIDS
    expected_layout = "\n".join(
        [
            "imagenet-adversarial/",
            "|-- imagenet-a/   (200 folders n01498041, ...; README.txt is ignored)",
            "|-- classnames.txt   (copied from imagenet/)",
        ]
    )


class ImageNetRDataModule(ImageNetShiftDataModule):
    """ImageNet-R: `imagenet-rendition/imagenet-r/<wnid>/` for its 200 classes."""

    dataset_name = "imagenet-rendition"
    image_dir = "imagenet-r"
    subset_wnids = IMAGENET_R_WNIDS
    expected_layout = "\n".join(
        [
            "imagenet-rendition/",
            "|-- imagenet-r/   (200 folders n01443537, ...)",
            "|-- classnames.txt   (copied from imagenet/)",
        ]
    )
