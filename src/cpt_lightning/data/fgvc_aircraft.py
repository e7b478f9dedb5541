"""FGVC-Aircraft with its official variant split files (CoOp reads these, not a split_zhou file)."""

from __future__ import annotations

from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.layout import DatasetLayoutError
from cpt_lightning.data.subset_plan import RawSplits


class FGVCAircraftDataModule(FewShotDataModule):
    """FGVC-Aircraft 2013b `data/` folder renamed `fgvc_aircraft/` (100 variants).

    `variants.txt` lists the class names in label order; `images_variant_{train,val,test}.txt`
    hold lines `<image id> <variant name>` for images `images/<image id>.jpg`.
    """

    dataset_name = "fgvc_aircraft"
    expected_layout = "\n".join(
        [
            "fgvc_aircraft/",
            "|-- images/            (<image id>.jpg)",
            "|-- variants.txt",
            "|-- images_variant_train.txt",
            "|-- images_variant_val.txt",
            "|-- images_variant_test.txt",
        ]
    )

    def read_classnames(self) -> list[str]:
        path = self.require("variants.txt", "class list")
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if len(set(names)) != len(names):
            raise DatasetLayoutError(f"FGVCAircraft: {path} lists a variant twice; re-extract the archive.")
        return names

    def _read_split(self, split: str) -> list[tuple[str, int]]:
        path = self.require(f"images_variant_{split}.txt", "split file")
        label_of = {name: label for label, name in enumerate(self.all_classnames)}
        items = []
        for line_number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.strip().split(" ", 1)
            if len(parts) != 2:
                raise DatasetLayoutError(
                    f"FGVCAircraft: {path} line {line_number} is {line!r}; expected `<image id> <variant>`."
                )
            image_id, variant = parts
            if variant not in label_of:
                raise DatasetLayoutError(
                    f"FGVCAircraft: {path} line {line_number} names variant {variant!r}, which is not in "
                    "variants.txt. The split and class files come from different releases; re-extract "
                    "fgvc-aircraft-2013b.tar.gz."
                )
            items.append((str(self.root / "images" / f"{image_id}.jpg"), label_of[variant]))
        return items

    def read_splits(self) -> RawSplits:
        self.require("images", "image folder")
        train, val, test = (self._read_split(split) for split in ("train", "val", "test"))
        return RawSplits(train=train, val=val, test=test)
