"""The frozen-feature cache: same features and predictions as pixels, and never a stale file."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cpt_lightning.data import ImageFolderDataModule
from cpt_lightning.data.feature_cache import FeatureCacheConfig
from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.models import CPTModule, IVLPPromptLearner
from cpt_lightning.models.image_features import ImageFeatures
from cpt_lightning.testing import quiet_trainer, save_random_clip

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "dog", "sea lion", "shark"]
FOLDERS = ["cat", "dog", "shark"]
_sgd = functools.partial(torch.optim.SGD, lr=0.5)


def _attached(datamodule, module: CPTModule, tmp_path: Path):
    """Attach `datamodule` to a trainer holding `module`, as `fit` does before it asks for loaders."""
    trainer = quiet_trainer(tmp_path)
    trainer.strategy.connect(module)
    datamodule.trainer = trainer
    datamodule.setup("fit")
    return datamodule


def _write_noise_images(root: Path, seed: int = 0) -> None:
    """Textured images (random crops of noise differ, unlike solid colours), two sizes."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", 3), ("test", 2)):
        for label, folder in enumerate(FOLDERS):
            for i in range(count):
                size = (40 + 8 * (i % 2), 36)
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) // (label + 1)
                path = root / split / folder / f"{folder}_{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)


def _folder_data(root: Path, cache: FeatureCacheConfig | None, **kwargs) -> ImageFolderDataModule:
    return ImageFolderDataModule(
        root=str(root), shots=2, batch_size=2, eval_batch_size=4, num_workers=0, feature_cache=cache, **kwargs
    )


def _features_and_labels(module: CPTModule, loader) -> tuple[torch.Tensor, torch.Tensor]:
    features, labels = zip(*[(module.encode_images(inputs), y) for inputs, y in loader], strict=True)
    return torch.cat(features), torch.cat(labels)


def test_cached_eval_features_and_predictions_equal_the_pixel_ones(tiny_clip_dir, tmp_path):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
    plain = GeneratedDataModule(CLASSNAMES, eval_per_class=3, batch_size=5)
    cached = GeneratedDataModule(CLASSNAMES, eval_per_class=3, batch_size=5, feature_cache=FeatureCacheConfig(tmp_path))
    plain, cached = _attached(plain, module, tmp_path), _attached(cached, module, tmp_path)

    batch = next(iter(cached.val_dataloader()))
    assert isinstance(batch[0], ImageFeatures) and batch[0].shape == (5, module.clip.config.projection_dim)
    with torch.no_grad():
        pixel_features, pixel_labels = _features_and_labels(module, plain.val_dataloader())
        cached_features, cached_labels = _features_and_labels(module, cached.val_dataloader())
        text = module.prompted_text_features()
    assert type(cached_features) is torch.Tensor  # the marker is stripped on first use
    assert torch.equal(pixel_labels, cached_labels)
    torch.testing.assert_close(cached_features, pixel_features, rtol=0, atol=1e-6)
    assert torch.equal(module.logits(cached_features, text).argmax(-1), module.logits(pixel_features, text).argmax(-1))

    accuracy = {}
    for name, data in (("pixels", plain), ("cached", cached)):
        accuracy[name] = quiet_trainer(tmp_path).validate(module, data, verbose=False)[0]["val/acc"]
    assert accuracy["cached"] == accuracy["pixels"]


def test_a_fit_on_cached_features_trains_the_same_prompts(tiny_clip_dir, tmp_path):
    prompts = {}
    for name, cache in (("pixels", None), ("cached", FeatureCacheConfig(tmp_path / "cache"))):
        torch.manual_seed(0)
        module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), optimizer=_sgd)
        data = GeneratedDataModule(CLASSNAMES, train_per_class=2, batch_size=4, feature_cache=cache)
        quiet_trainer(tmp_path, max_epochs=2, limit_val_batches=0).fit(module, data)
        prompts[name] = module.prompt_learner.ctx.detach().clone()
    initial = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir)).prompt_learner.ctx
    assert not torch.equal(prompts["pixels"], initial)
    torch.testing.assert_close(prompts["cached"], prompts["pixels"], rtol=1e-4, atol=1e-5)


def test_augmented_views_are_the_uncached_loaders_epochs(tiny_clip_dir, tmp_path):
    _write_noise_images(tmp_path / "data")
    module = CPTModule(FOLDERS, clip_name_or_path=str(tiny_clip_dir))
    cache = FeatureCacheConfig(tmp_path / "cache", train_views=2)
    plain = _attached(_folder_data(tmp_path / "data", None), module, tmp_path)
    cached = _attached(_folder_data(tmp_path / "data", cache), module, tmp_path)
    plain_loader, cached_loader = plain.train_dataloader(), cached.train_dataloader()
    assert cached_loader.dataset.features.shape[:2] == (len(cached.train_items), 2)
    epochs = []
    with torch.no_grad():
        for epoch in (0, 1):  # view v is the uncached loader's epoch v: same order, same augmentation
            plain_loader.sampler.set_epoch(epoch)
            cached_loader.sampler.set_epoch(epoch)
            pixel_features, pixel_labels = _features_and_labels(module, plain_loader)
            cached_features, cached_labels = _features_and_labels(module, cached_loader)
            assert torch.equal(pixel_labels, cached_labels)
            torch.testing.assert_close(cached_features, pixel_features, rtol=0, atol=1e-6)
            epochs.append(cached_features)
    assert not torch.allclose(epochs[0], epochs[1])  # the views really are different augmentations


def test_changed_model_transform_or_data_gets_a_new_cache_and_is_recomputed(clip_tokenizer, tmp_path):
    _write_noise_images(tmp_path / "data")
    clip_a = save_random_clip(tmp_path / "clip_a", clip_tokenizer, seed=0)
    clip_b = save_random_clip(tmp_path / "clip_b", clip_tokenizer, seed=1)
    module_a = CPTModule(FOLDERS, clip_name_or_path=str(clip_a))
    module_b = CPTModule(FOLDERS, clip_name_or_path=str(clip_b))
    cache = FeatureCacheConfig(tmp_path / "cache")

    def test_set(module, config=cache, **kwargs):
        dataset = _attached(_folder_data(tmp_path / "data", config, **kwargs), module, tmp_path).test_dataloader()[0]
        return dataset.dataset

    first = test_set(module_a)
    assert first.built and first.cache_file.is_file()
    again = test_set(module_a)
    assert not again.built and again.cache_file == first.cache_file
    assert torch.equal(again.features, first.features)

    other_model = test_set(module_b)
    assert other_model.built and other_model.cache_file != first.cache_file
    assert not torch.allclose(other_model.features, first.features)

    resized = ImageSettings(crop_size=32, resize_shortest_edge=40)  # another eval transform
    other_transform = test_set(module_a, image_settings=resized)
    assert other_transform.built and other_transform.cache_file not in (first.cache_file, other_model.cache_file)

    train_a = _attached(_folder_data(tmp_path / "data", cache), module_a, tmp_path).train_dataloader().dataset
    views = FeatureCacheConfig(tmp_path / "cache", train_views=1)
    train_b = _attached(_folder_data(tmp_path / "data", views), module_a, tmp_path).train_dataloader().dataset
    assert train_a.built and train_b.built and train_a.cache_file != train_b.cache_file

    replaced = tmp_path / "data" / "test" / "dog" / "dog_0.png"
    Image.fromarray(np.full((30, 30, 3), 200, dtype=np.uint8)).save(replaced)  # same path, new content
    other_data = test_set(module_a)
    assert other_data.built and other_data.cache_file != first.cache_file
    changed_rows = (other_data.features - first.features).abs().amax(dim=(1, 2)) > 1e-6
    assert changed_rows.sum().item() == 1  # exactly the replaced image was re-encoded differently

    other_data.cache_file.write_bytes(b"truncated")  # a damaged file is rebuilt, never trusted
    rebuilt = test_set(module_a)
    assert rebuilt.built
    torch.testing.assert_close(rebuilt.features, other_data.features, rtol=0, atol=0)


def test_a_host_that_prompts_the_image_tower_is_refused(tiny_clip_dir, tmp_path):
    vision_prompts = functools.partial(IVLPPromptLearner, prompt_depth_text=1, prompt_depth_vision=1)
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=vision_prompts)
    data = _attached(GeneratedDataModule(CLASSNAMES, feature_cache=FeatureCacheConfig(tmp_path)), module, tmp_path)
    with pytest.raises(ValueError, match="prompts the image\\s+tower"):
        data.val_dataloader()
    features = ImageFeatures.wrap(torch.zeros(2, module.clip.config.projection_dim))
    with pytest.raises(RuntimeError, match="prompts the image tower"):
        module.encode_images(features)
    with pytest.raises(ValueError, match="train_views=0"):
        GeneratedDataModule(CLASSNAMES, feature_cache=FeatureCacheConfig(tmp_path, train_views=2))


def test_eval_splits_mode_caches_only_evaluation_and_leaves_image_prompting_hosts_on_pixels(
    tiny_clip_dir, tmp_path, monkeypatch
):
    from cpt_lightning.process_cache import process_cache

    monkeypatch.setenv("CPT_FEATURE_CACHE", str(tmp_path / "from_env"))
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
    config = FeatureCacheConfig(splits="eval")  # no directory: $CPT_FEATURE_CACHE
    data = _attached(GeneratedDataModule(CLASSNAMES, batch_size=4, feature_cache=config), module, tmp_path)
    train_inputs, _ = next(iter(data.train_dataloader()))
    assert not isinstance(train_inputs, ImageFeatures)  # training keeps pixels and their augmentation
    val_inputs, _ = next(iter(data.val_dataloader()))
    assert isinstance(val_inputs, ImageFeatures)
    assert len(list((tmp_path / "from_env").glob("*.pt"))) == 1

    vision_prompts = functools.partial(IVLPPromptLearner, prompt_depth_text=1, prompt_depth_vision=1)
    ivlp = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=vision_prompts)
    ivlp_data = _attached(GeneratedDataModule(CLASSNAMES, feature_cache=config), ivlp, tmp_path)
    pixels, _ = next(iter(ivlp_data.val_dataloader()))
    assert not isinstance(pixels, ImageFeatures)  # no error: evaluation reads pixels

    with process_cache() as cache:  # a second run in the process takes the split from memory
        first = _attached(GeneratedDataModule(CLASSNAMES, feature_cache=config), module, tmp_path).val_dataloader()
        second = _attached(GeneratedDataModule(CLASSNAMES, feature_cache=config), module, tmp_path).val_dataloader()
        other = GeneratedDataModule(CLASSNAMES, eval_per_class=5, feature_cache=config)  # other images
        third = _attached(other, module, tmp_path).val_dataloader()
        assert second.dataset.features is first.dataset.features and not second.dataset.built
        assert third.dataset.features.shape[0] == 5 * len(CLASSNAMES)
        assert cache.hits["image_features"] == 1 and cache.misses["image_features"] == 2
    with pytest.raises(ValueError, match="'all', 'eval', 'exact'"):
        FeatureCacheConfig(splits="train")


def test_exact_mode_caches_un_augmented_training_images_and_their_features_are_the_pixel_ones(
    tiny_clip_dir, tmp_path
):
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
    config = FeatureCacheConfig(tmp_path / "cache", splits="exact")
    cached = _attached(GeneratedDataModule(CLASSNAMES, batch_size=4, feature_cache=config), module, tmp_path)
    plain = _attached(GeneratedDataModule(CLASSNAMES, batch_size=4), module, tmp_path)
    with torch.no_grad():
        cached_features, cached_labels = _features_and_labels(module, cached.train_dataloader())
        pixel_features, pixel_labels = _features_and_labels(module, plain.train_dataloader())
    assert isinstance(next(iter(cached.train_dataloader()))[0], ImageFeatures)
    assert torch.equal(cached_labels, pixel_labels)
    torch.testing.assert_close(cached_features, pixel_features, rtol=0, atol=1e-6)
