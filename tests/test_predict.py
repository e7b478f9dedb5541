"""`cpt predict`: one row per image, agreeing with `cpt test`; a folder of unlabelled images; CSV and JSONL."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer
from PIL import Image

from cpt_lightning.callbacks.prediction_writer import PredictionWriter, read_predictions, top_k_predictions
from cpt_lightning.data import DatasetLayoutError, UnlabelledImagesDataModule
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.data.transforms import EvalTransform
from cpt_lightning.models import CPTModule

CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish"]


def _trainer(tmp_path, **kwargs) -> Trainer:
    return Trainer(
        accelerator="cpu",
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


@pytest.fixture
def fitted(tiny_clip_dir, tmp_path):
    data = GeneratedDataModule(CLASSNAMES, train_per_class=2, eval_per_class=5, subsample="base_to_new", batch_size=4)
    module = CPTModule(data.classnames, clip_name_or_path=str(tiny_clip_dir))
    trainer = _trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, data)
    checkpoint = tmp_path / "fitted.ckpt"
    trainer.save_checkpoint(checkpoint)
    return module, data, checkpoint


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_predictions_on_a_labelled_test_split_agree_with_test_accuracy(fitted, tmp_path, suffix):
    module, data, _ = fitted
    tester = _trainer(tmp_path)
    tester.test(module, data)
    writer = PredictionWriter(path=str(tmp_path / f"predictions{suffix}"), top_k=2)
    _trainer(tmp_path, callbacks=[writer]).predict(module, data, return_predictions=False)
    rows = read_predictions(writer.written)
    assert len(rows) == 2 * 3 * 5  # base and new sets, 3 classes each, 5 test images per class
    for set_name, names in data.eval_classnames.items():
        mine = [row for row in rows if row["set"] == set_name]
        assert all(len(row["classes"]) == 2 and set(row["classes"]) <= set(names) for row in mine)
        correct = torch.tensor(sum(row["classes"][0] == row["label"] for row in mine), dtype=torch.float32)
        accuracy = correct / torch.tensor(len(mine), dtype=torch.float32)
        assert accuracy == tester.callback_metrics[f"test/{set_name}/acc"], set_name
        assert all(row["probabilities"][0] >= row["probabilities"][1] for row in mine)


def test_top_k_ranks_like_argmax_even_on_ties():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    order, probabilities = top_k_predictions(logits, 3)
    assert order[:, 0].tolist() == logits.argmax(-1).tolist() == [1, 0]
    assert order.tolist() == [[1, 2, 0], [0, 1, 2]]
    assert torch.allclose(probabilities[1], torch.full((3,), 0.25))


def test_a_folder_of_unlabelled_images_gets_one_row_per_image(fitted, tmp_path):
    module, _, checkpoint = fitted
    folder = tmp_path / "new images"
    paths = [folder / "a.png", folder / "b.jpg", folder / "nested" / "c.png"]
    for value, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), (60 * value, 20, 200 - 50 * value)).save(path)
    (folder / "notes.txt").write_text("not an image")
    data = UnlabelledImagesDataModule(str(folder), checkpoint=str(checkpoint), num_workers=0)
    assert data.classnames == module.classnames  # the checkpoint's training classes
    writer = PredictionWriter(path=str(tmp_path / "folder.jsonl"), top_k=10)
    _trainer(tmp_path, callbacks=[writer]).predict(module, data, return_predictions=False)
    rows = read_predictions(writer.written)
    assert [row["path"] for row in rows] == [str(p) for p in sorted(paths)]
    assert all(row["label"] is None and row["set"] == "all" for row in rows)
    # The independent route: the module's own logits on the images prepared as for testing.
    transform = EvalTransform(module.image_settings)
    pixels = torch.stack([transform(Image.open(p)) for p in sorted(paths)])
    with torch.no_grad():
        expected = module(pixels).softmax(-1)
    for row, probabilities in zip(rows, expected, strict=True):
        assert len(row["classes"]) == len(module.classnames)  # top_k above K: every class
        assert row["classes"][0] == module.classnames[int(probabilities.argmax())]
        assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        by_name = dict(zip(row["classes"], row["probabilities"], strict=True))
        assert [by_name[name] for name in module.classnames] == pytest.approx(probabilities.tolist(), abs=1e-6)


def test_unlabelled_images_need_exactly_one_source_of_class_names(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    with pytest.raises(ValueError, match="exactly one"):
        UnlabelledImagesDataModule(str(tmp_path))
    with pytest.raises(ValueError, match="exactly one"):
        UnlabelledImagesDataModule(str(tmp_path), classnames=["a"], checkpoint="x.ckpt")
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        UnlabelledImagesDataModule(str(tmp_path / "absent"), classnames=["a"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no image files"):
        UnlabelledImagesDataModule(str(tmp_path / "empty"), classnames=["a"])


def test_the_writer_refuses_an_unknown_format():
    with pytest.raises(ValueError, match=".csv or .jsonl"):
        PredictionWriter(path="out.parquet")
