"""`splits="exact"`: a flip-only training augmentation is served from its two cached views, exactly.

The truth here is the uncached pipeline itself: the same seeds through `TrainTransform` and the image
tower, epoch by epoch, and a whole fit on pixels.
"""

from __future__ import annotations

import functools
import logging
import random

import numpy as np
import pytest
import torch
from PIL import Image

from cpt_lightning.data.feature_cache import CachedFeatureDataset, FeatureCacheConfig
from cpt_lightning.data.flip_views import FlipViewsDataset, flip_only_training
from cpt_lightning.data.transforms import TrainTransform, random_resized_crop_box
from cpt_lightning.data.world import WorldDataModule
from cpt_lightning.image_settings import ImageSettings
from cpt_lightning.models import CPTModule
from cpt_lightning.models.image_features import ImageFeatures
from cpt_lightning.testing import quiet_trainer

pytestmark = pytest.mark.model

SETTINGS = ImageSettings(crop_size=16, resize_shortest_edge=16)


@pytest.mark.parametrize("side", [1, 2, 7, 16, 31, 32, 224])
def test_a_whole_image_crop_of_a_square_image_is_the_whole_image_for_every_seed(side):
    # The claim `TrainTransform.flips_only` rests on, checked over many draws (the rounding edge included).
    boxes = {random_resized_crop_box(side, side, random.Random(seed), scale=(1.0, 1.0)) for seed in range(3000)}
    assert boxes == {(0, 0, side, side)}
    assert TrainTransform(SETTINGS, scale=(1.0, 1.0)).flips_only(side, side)


def test_crops_or_non_square_images_are_not_flip_only():
    boxes = {random_resized_crop_box(40, 36, random.Random(seed), scale=(1.0, 1.0)) for seed in range(3000)}
    assert len(boxes) > 1  # a non-square image really is cropped in several ways
    assert not TrainTransform(SETTINGS, scale=(1.0, 1.0)).flips_only(40, 36)
    assert not TrainTransform(SETTINGS, scale=(0.5, 1.0)).flips_only(32, 32)
    assert not flip_only_training(TrainTransform(SETTINGS, scale=(1.0, 1.0)), [])
    with pytest.raises(ValueError, match="cropped, not only flipped"):
        FlipViewsDataset([("a", 0)], TrainTransform(SETTINGS, scale=(1.0, 1.0)), lambda key: None, [(40, 36)])


def test_the_view_a_seed_draws_is_the_pixels_the_transform_gives():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))  # resized 20 -> 16 as well
    transform = TrainTransform(SETTINGS, scale=(1.0, 1.0))
    views = FlipViewsDataset([("img", 3)], transform, lambda key: image, [image.size])
    drawn = []
    for seed in range(200):
        view = views.view_of(0, seed)
        pixels, label = views[(0, view)]
        assert torch.equal(pixels, transform(image, seed=seed)) and label == 3
        drawn.append(view)
    assert 60 < sum(drawn) < 140  # both views, about half the time each
    assert not torch.equal(views[(0, 0)][0], views[(0, 1)][0])


def _world(cache: FeatureCacheConfig | None, shots: int = 2) -> WorldDataModule:
    return WorldDataModule("night", shots=shots, train_pool_per_class=shots, val_pool_per_class=1, test_per_class=1,
                           batch_size=8, feature_cache=cache)  # fmt: skip


def _attached(data, module: CPTModule, tmp_path):
    trainer = quiet_trainer(tmp_path)
    trainer.strategy.connect(module)
    data.trainer = trainer
    data.setup("fit")
    return data


def test_every_epoch_reads_the_features_of_the_pixels_the_uncached_loader_gives(tmp_path):
    module = CPTModule(_world(None).classnames, clip_name_or_path="builtin:world_clip")
    cache = FeatureCacheConfig(str(tmp_path / "cache"), splits="exact")
    plain = _attached(_world(None), module, tmp_path).train_dataloader()
    cached_data = _attached(_world(cache), module, tmp_path)
    cached = cached_data.train_dataloader()
    assert isinstance(cached.dataset, CachedFeatureDataset)
    assert cached.dataset.features.shape[:2] == (len(cached_data.train_items), 2)
    with torch.no_grad():
        for epoch in (0, 1, 5):  # beyond any number of stored views: the flip is drawn per epoch
            plain.sampler.set_epoch(epoch)
            cached.sampler.set_epoch(epoch)
            for (pixels, labels), (features, cached_labels) in zip(plain, cached, strict=True):
                assert isinstance(features, ImageFeatures) and torch.equal(labels, cached_labels)
                expected = module.clip.encode_images(pixels)
                torch.testing.assert_close(module.encode_images(features), expected, rtol=1e-5, atol=1e-6)
    again = _attached(_world(cache), module, tmp_path).train_dataloader().dataset
    assert not again.built and again.cache_file == cached.dataset.cache_file


def test_a_fit_on_the_flip_views_trains_the_same_prompts_as_on_pixels(tmp_path):
    prompts = {}
    sgd = functools.partial(torch.optim.SGD, lr=0.5)
    for name, cache in (("pixels", None), ("exact", FeatureCacheConfig(str(tmp_path / "c"), splits="exact"))):
        torch.manual_seed(0)
        data = _world(cache)
        module = CPTModule(data.classnames, clip_name_or_path="builtin:world_clip", optimizer=sgd)
        quiet_trainer(tmp_path, max_epochs=3, limit_val_batches=0).fit(module, data)
        prompts[name] = module.prompt_learner.ctx.detach().clone()
    initial = CPTModule(_world(None).classnames, clip_name_or_path="builtin:world_clip").prompt_learner.ctx
    assert not torch.equal(prompts["pixels"], initial)
    torch.testing.assert_close(prompts["exact"], prompts["pixels"], rtol=1e-4, atol=1e-5)


def test_with_crops_exact_caches_evaluation_only_and_says_why_once(tmp_path, caplog):
    cache = FeatureCacheConfig(str(tmp_path / "cache"), splits="exact")
    data = WorldDataModule("night", shots=1, train_pool_per_class=1, val_pool_per_class=1, test_per_class=1,
                           crop_scale=(0.5, 1.0), feature_cache=cache)  # fmt: skip
    module = CPTModule(data.classnames, clip_name_or_path="builtin:world_clip")
    data = _attached(data, module, tmp_path)
    with caplog.at_level(logging.INFO, logger="cpt_lightning.data.flip_views"):
        for _ in range(2):
            inputs, _ = next(iter(data.train_dataloader()))
            assert not isinstance(inputs, ImageFeatures)  # pixels, with their random crops
    assert sum("training reads pixels" in record.getMessage() for record in caplog.records) == 1
    features, _ = next(iter(data.val_dataloader()[0]))
    assert isinstance(features, ImageFeatures)
    with pytest.raises(ValueError, match="'exact'"):
        FeatureCacheConfig(splits="training")
