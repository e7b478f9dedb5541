"""Users' own data through HuggingFace `datasets`: a hub name, or a local folder via `imagefolder`."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from PIL import Image

from cpt_lightning.data.feature_cache import FeatureCacheConfig
from cpt_lightning.data.few_shot_datamodule import FewShotDataModule, RawSplits
from cpt_lightning.data.layout import DatasetLayoutError
from cpt_lightning.data.sampling import Subsample
from cpt_lightning.image_settings import ImageSettings


class HuggingFaceDataModule(FewShotDataModule):
    """Image classification data from `datasets.load_dataset(name, data_dir=...)`.

    `name="imagefolder"` with `data_dir` reads a local `train/<class>/...`, `test/<class>/...`
    tree; any hub name works where the hub is reachable. The label column must be a
    `ClassLabel` (its names become the class names, underscores as spaces). The dataset is loaded
    in `__init__` so class names are known there. Without `val_split`, validation takes unused
    training images as in the other modules. Sampled subsets are cached under `cache_dir`
    (default `~/.cache/cpt_lightning/splits`); `hf_cache_dir` is passed to `load_dataset`.
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
        seed: int = 1,
        tau: float = 1.0,
        subsample: Subsample = "all",
        batch_size: int = 32,
        eval_batch_size: int = 100,
        num_workers: int = 4,
        image_settings: ImageSettings | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        feature_cache: FeatureCacheConfig | None = None,
        hf_cache_dir: str | None = None,
    ) -> None:
        import datasets

        self.name, self.data_dir = name, data_dir
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        self.image_column, self.label_column = image_column, label_column
        self.dataset_name = "hf_" + (Path(data_dir).name if data_dir else name).replace("/", "_")
        self.hf_dataset = datasets.load_dataset(name, data_dir=data_dir, cache_dir=hf_cache_dir)
        cache_dir = cache_dir or str(Path("~/.cache/cpt_lightning/splits").expanduser())
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(
            data_dir or cache_dir,
            shots,
            seed,
            tau,
            subsample,
            batch_size,
            eval_batch_size,
            num_workers,
            image_settings,
            cache_dir,
            use_cache,
            feature_cache,
        )

    def _split(self, role: str):
        split = self.split_names[role]
        if split not in self.hf_dataset:
            raise DatasetLayoutError(
                f"HuggingFace dataset {self.name!r} has no split {split!r} (found "
                f"{sorted(self.hf_dataset)}); set `{role}_split` to one of those."
            )
        return self.hf_dataset[split]

    def read_classnames(self) -> list[str]:
        train = self._split("train")
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
