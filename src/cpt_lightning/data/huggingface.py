"""Users' own data through HuggingFace `datasets`: a hub name, or a local folder via `imagefolder`."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

from PIL import Image

from cpt_lightning.data.few_shot_datamodule import FewShotDataModule
from cpt_lightning.data.layout import DatasetLayoutError
from cpt_lightning.data.subset_plan import RawSplits
from cpt_lightning.extras import require_extra


class HuggingFaceDataModule(FewShotDataModule):
    """Image classification data from `datasets.load_dataset(name, data_dir=...)`.

    `name="imagefolder"` with `data_dir` reads a local `train/<class>/...`, `test/<class>/...`
    tree; any hub name works where the hub is reachable. The label column must be a
    `ClassLabel` (its names become the class names, underscores as spaces). `__init__` reads only
    the class names: from the dataset's declared features (its card), or for a folder-based
    dataset (`imagefolder`) from its class folders, as `datasets` names them. The data itself is
    downloaded and prepared in `prepare_data` (once, on the first rank of each node) and opened
    from `datasets`' cache in `setup`. `revision` pins the hub dataset (a tag, branch or commit).
    Without `val_split`, validation takes unused training images as in the other modules. Sampled
    subsets are cached under `cache_dir` (default `~/.cache/cpt_lightning/splits`); `hf_cache_dir`
    is passed to `load_dataset`. Needs the `hf` extra (`pip install "cpt-lightning[hf]"`).
    """

    expected_layout = "a `datasets` dataset with an image column and a ClassLabel label column"

    def __init__(
        self,
        name: str = "imagefolder",
        data_dir: str | None = None,
        train_split: str = "train",
        test_split: str = "test",
        val_split: str | None = None,
        image_column: str = "image",
        label_column: str = "label",
        shots: int | None = None,
        cache_dir: str | None = None,
        hf_cache_dir: str | None = None,
        revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._datasets = require_extra("datasets", "HuggingFaceDataModule")
        self.name, self.data_dir, self.revision, self.hf_cache_dir = name, data_dir, revision, hf_cache_dir
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        self.image_column, self.label_column = image_column, label_column
        self.dataset_name = "hf_" + (Path(data_dir).name if data_dir else name).replace("/", "_")
        self.hf_dataset = None  # opened in `setup`
        cache_dir = cache_dir or str(Path("~/.cache/cpt_lightning/splits").expanduser())
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(data_dir or cache_dir, cache_dir=cache_dir, shots=shots, **kwargs)

    def _load(self):
        return self._datasets.load_dataset(
            self.name, data_dir=self.data_dir, revision=self.revision, cache_dir=self.hf_cache_dir
        )

    def prepare_data(self) -> None:
        # Download and prepare once per node (Lightning calls this on local rank 0 only).
        self._load()

    def setup(self, stage: str | None = None) -> None:
        self._open()
        super().setup(stage)

    def _open(self) -> None:
        if self.hf_dataset is not None:
            return
        self.hf_dataset = self._load()
        names = self._label_names(self._split("train"))
        if names != self.all_classnames:
            raise DatasetLayoutError(
                f"HuggingFace dataset {self.name!r}: the loaded label names {names[:5]}... differ from the "
                f"ones its metadata declared ({self.all_classnames[:5]}...). Pin `revision` so that both "
                "come from the same version of the dataset."
            )

    def verify_files(self, decode: bool = False) -> RawSplits | None:
        # Rows have no files to stat, and the dataset is downloaded in `prepare_data`, after the CLI
        # builds this module: the stat pass has nothing to check before `setup`, which lists the splits.
        # Decoding every image was asked for explicitly, so it opens the dataset now.
        if self.hf_dataset is None and not decode:
            return None
        self._open()
        return super().verify_files(decode)

    def _label_names(self, train) -> list[str]:
        for column in (self.image_column, self.label_column):
            if column not in train.column_names:
                raise DatasetLayoutError(
                    f"HuggingFace dataset {self.name!r} has no column {column!r} (columns: "
                    f"{train.column_names}); set `image_column` / `label_column`."
                )
        names = getattr(train.features[self.label_column], "names", None)
        if not names:
            raise DatasetLayoutError(
                f"HuggingFace dataset {self.name!r}: column {self.label_column!r} is not a ClassLabel, so it "
                "carries no class names. Cast it with `dataset.cast_column(..., ClassLabel(names=[...]))`."
            )
        return [name.replace("_", " ") for name in names]

    def _split(self, role: str):
        split = self.split_names[role]
        if self.hf_dataset is None:
            raise RuntimeError("HuggingFaceDataModule: call `setup` first; it opens the dataset.")
        if split not in self.hf_dataset:
            raise DatasetLayoutError(
                f"HuggingFace dataset {self.name!r} has no split {split!r} (found "
                f"{sorted(self.hf_dataset)}); set `{role}_split` to one of those."
            )
        return self.hf_dataset[split]

    def read_classnames(self) -> list[str]:
        """The class names without loading the data: declared features, else a folder dataset's class folders."""
        builder = self._datasets.load_dataset_builder(
            self.name, data_dir=self.data_dir, revision=self.revision, cache_dir=self.hf_cache_dir
        )
        features = builder.info.features
        names = getattr(features.get(self.label_column), "names", None) if features else None
        if names:
            return [name.replace("_", " ") for name in names]
        files = (getattr(builder.config, "data_files", None) or {}).get(self.split_names["train"])
        if files:
            # A folder-based builder labels each file by its parent folder, in sorted order.
            return [name.replace("_", " ") for name in sorted({Path(file).parent.name for file in files})]
        raise DatasetLayoutError(
            f"HuggingFace dataset {self.name!r} declares no class names for column {self.label_column!r} and is "
            f"not a folder of class folders; check `label_column`, `train_split` ({self.split_names['train']!r}) "
            "and `revision`."
        )

    def _items(self, role: str) -> list[tuple[str, int]]:
        split = self.split_names[role]
        labels = self._split(role)[self.label_column]
        return [(f"{split}:{index}", int(label)) for index, label in enumerate(labels)]

    def read_splits(self) -> RawSplits:
        val = self._items("val") if self.split_names["val"] is not None else None
        return RawSplits(train=self._items("train"), val=val, test=self._items("test"))

    def load_image(self, key: Hashable) -> Image.Image:
        split, index = str(key).rsplit(":", 1)
        return self.hf_dataset[split][int(index)][self.image_column]

    def describe_image(self, key: Hashable) -> str:
        # Rows have no file to stat; the split's fingerprint changes whenever its content does.
        split = str(key).rsplit(":", 1)[0]
        return f"{key}@{self.hf_dataset[split]._fingerprint}"
