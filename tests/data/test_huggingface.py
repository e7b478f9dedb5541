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


def test_init_reads_class_names_only_and_prepare_data_loads_with_the_revision(tmp_path, monkeypatch):
    import datasets

    class_folders(tmp_path / "data" / "train", ["owl", "cat"], 1, suffix=".png")
    class_folders(tmp_path / "data" / "test", ["owl", "cat"], 1, suffix=".png")
    calls = []
    load = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(k) or load(*a, **k))
    dm = HuggingFaceDataModule(
        data_dir=str(tmp_path / "data"), image_settings=TINY, num_workers=0, hf_cache_dir=str(tmp_path / "hf")
    )
    assert dm.classnames == ["cat", "owl"] and calls == [] and dm.hf_dataset is None  # nothing loaded yet
    dm.prepare_data()
    assert [call["revision"] for call in calls] == [None]
    dm.setup("test")  # opens the prepared dataset and checks its label names against __init__'s
    assert len(calls) == 2 and sorted(label for _, label in dm.test_items["all"]) == [0, 1]
