"""The HuggingFace `datasets` module over a local `imagefolder` tree."""

import numpy as np

from cpt_lightning.data import HuggingFaceDataModule

from .miniatures import TINY, class_folders


def test_local_imagefolder_through_datasets(tmp_path):
    class_folders(tmp_path / "data" / "train", ["cat", "sea_lion", "dog"], 3, suffix=".png")
    class_folders(tmp_path / "data" / "test", ["cat", "sea_lion", "dog"], 1, suffix=".png")
    dm = HuggingFaceDataModule(
        name="imagefolder",
        data_dir=str(tmp_path / "data"),
        shots=2,
        seed=3,
        image_settings=TINY,
        num_workers=0,
        cache_dir=str(tmp_path / "splits"),
        hf_cache_dir=str(tmp_path / "hf"),
    )
    assert dm.classnames == ["cat", "dog", "sea lion"]  # datasets sorts the folder names
    dm.setup("fit")
    assert sorted(label for _, label in dm.train_items) == [0, 0, 1, 1, 2, 2]
    assert sorted(label for _, label in dm.val_items["all"]) == [0, 1, 2]  # the one unused image each
    pixels, labels = next(iter(dm.test_dataloader()[0]))
    assert pixels.shape == (3, 3, 8, 8) and sorted(labels.tolist()) == [0, 1, 2]
    # labels agree with the files: class_folders paints folder j's images grey 30*j + i (PNG, lossless)
    folder_index_of_label = {0: 0, 1: 2, 2: 1}  # cat, dog, sea_lion in the order they were written
    for key, label in dm.train_items + dm.test_items["all"]:
        value = np.asarray(dm.load_image(key))[0, 0, 0]
        assert value // 30 == folder_index_of_label[label]
