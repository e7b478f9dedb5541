"""The CoOp benchmarks that ship a `split_zhou_<Name>.json` split file (nine of the eleven).

Each class only names its folder layout; `root` is the dataset's own folder (e.g.
`$DATA/oxford_pets`). Class names come from the split file's training records, with CoOp's
underscores turned into spaces (as CoOp's trainer does before building prompts).
"""

from __future__ import annotations

from typing import ClassVar

from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.layout import (
    SplitRecord,
    check_records_match,
    classnames_from_records,
    read_split_file,
)
from cpt_lightning.data.subset_plan import RawSplits


class SplitFileDataModule(FewShotDataModule):
    """A benchmark laid out as `<root>/<image_dir>/...` plus `<root>/<split_file>` (CoOp format).

    The split file maps each of "train", "val", "test" to `[relative path, label, class name]`
    records, paths relative to `<root>/<image_dir>`.
    """

    split_file: ClassVar[str] = ""
    image_dir: ClassVar[str] = ""

    def _split_records(self) -> dict[str, list[SplitRecord]]:
        if not hasattr(self, "_records"):
            path = self.require(self.split_file, "split file")
            self._records = read_split_file(path, type(self).__name__)
        return self._records

    def read_classnames(self) -> list[str]:
        records = self._split_records()
        raw = classnames_from_records(records["train"], self.root / self.split_file, type(self).__name__)
        for split in ("val", "test"):
            check_records_match(records[split], raw, self.root / self.split_file, split, type(self).__name__)
        return [name.replace("_", " ") for name in raw]

    def read_splits(self) -> RawSplits:
        image_dir = self.require(self.image_dir, "image folder")
        records = self._split_records()

        def items(split: str) -> list[tuple[str, int]]:
            return [(str(image_dir / path), label) for path, label, _ in records[split]]

        return RawSplits(train=items("train"), val=items("val"), test=items("test"))


def _layout(folder: str, *entries: str) -> str:
    lines = [f"{folder}/"] + [f"|-- {entry}" for entry in entries]
    return "\n".join(lines)


class Caltech101DataModule(SplitFileDataModule):
    """Caltech101 (CoOp split): `caltech-101/101_ObjectCategories/`, `split_zhou_Caltech101.json`."""

    dataset_name = "caltech-101"
    split_file = "split_zhou_Caltech101.json"
    image_dir = "101_ObjectCategories"
    expected_layout = _layout("caltech-101", "101_ObjectCategories/", "split_zhou_Caltech101.json")


class OxfordPetsDataModule(SplitFileDataModule):
    """Oxford-IIIT Pets (CoOp split): `oxford_pets/images/`, `split_zhou_OxfordPets.json`."""

    dataset_name = "oxford_pets"
    split_file = "split_zhou_OxfordPets.json"
    image_dir = "images"
    expected_layout = _layout("oxford_pets", "images/", "annotations/", "split_zhou_OxfordPets.json")


class StanfordCarsDataModule(SplitFileDataModule):
    """Stanford Cars (CoOp split): split paths such as `cars_train/00001.jpg` relative to the root."""

    dataset_name = "stanford_cars"
    split_file = "split_zhou_StanfordCars.json"
    image_dir = ""
    expected_layout = _layout(
        "stanford_cars",
        "cars_test/",
        "cars_test_annos_withlabels.mat",
        "cars_train/",
        "devkit/",
        "split_zhou_StanfordCars.json",
    )


class Flowers102DataModule(SplitFileDataModule):
    """Oxford Flowers102 (CoOp split): `oxford_flowers/jpg/`, `split_zhou_OxfordFlowers.json`."""

    dataset_name = "oxford_flowers"
    split_file = "split_zhou_OxfordFlowers.json"
    image_dir = "jpg"
    expected_layout = _layout(
        "oxford_flowers", "cat_to_name.json", "imagelabels.mat", "jpg/", "split_zhou_OxfordFlowers.json"
    )


class Food101DataModule(SplitFileDataModule):
    """Food-101 (CoOp split): `food-101/images/<class>/<id>.jpg`, `split_zhou_Food101.json`."""

    dataset_name = "food-101"
    split_file = "split_zhou_Food101.json"
    image_dir = "images"
    expected_layout = _layout(
        "food-101", "images/", "license_agreement.txt", "meta/", "README.txt", "split_zhou_Food101.json"
    )


class SUN397DataModule(SplitFileDataModule):
    """SUN397 (CoOp split): `sun397/SUN397/<letter>/<class>/...jpg`, `split_zhou_SUN397.json`."""

    dataset_name = "sun397"
    split_file = "split_zhou_SUN397.json"
    image_dir = "SUN397"
    expected_layout = _layout("sun397", "SUN397/", "split_zhou_SUN397.json", "... (Partitions *.txt files)")


class DTDDataModule(SplitFileDataModule):
    """Describable Textures (CoOp split): `dtd/images/<class>/`, `split_zhou_DescribableTextures.json`."""

    dataset_name = "dtd"
    split_file = "split_zhou_DescribableTextures.json"
    image_dir = "images"
    expected_layout = _layout("dtd", "images/", "imdb/", "labels/", "split_zhou_DescribableTextures.json")


class EuroSATDataModule(SplitFileDataModule):
    """EuroSAT (CoOp split, CoOp's long class names): `eurosat/2750/<class>/`, `split_zhou_EuroSAT.json`."""

    dataset_name = "eurosat"
    split_file = "split_zhou_EuroSAT.json"
    image_dir = "2750"
    expected_layout = _layout("eurosat", "2750/", "split_zhou_EuroSAT.json")


class UCF101DataModule(SplitFileDataModule):
    """UCF101 middle frames (CoOp split): `ucf101/UCF-101-midframes/`, `split_zhou_UCF101.json`."""

    dataset_name = "ucf101"
    split_file = "split_zhou_UCF101.json"
    image_dir = "UCF-101-midframes"
    expected_layout = _layout("ucf101", "UCF-101-midframes/", "split_zhou_UCF101.json")
