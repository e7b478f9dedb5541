"""The world's evaluation features are cached under the rendered pixels' digest: new pixels, new file."""

from __future__ import annotations

import pytest
import torch

from cpt_lightning.data.feature_cache import FeatureCacheConfig
from cpt_lightning.data.world import WorldDataModule
from cpt_lightning.models import CPTModule
from cpt_lightning.models.image_features import ImageFeatures
from cpt_lightning.testing import quiet_trainer

pytestmark = pytest.mark.model


def _test_set(module: CPTModule, tmp_path, world_seed: int):
    cache = FeatureCacheConfig(str(tmp_path), splits="eval")
    # Any world dataset: the cache keys on pixels, not the style (night renders faster than blur).
    data = WorldDataModule("night", shots=1, train_pool_per_class=1, val_pool_per_class=1, test_per_class=1,
                           world_seed=world_seed, feature_cache=cache)  # fmt: skip
    trainer = quiet_trainer(tmp_path)
    trainer.strategy.connect(module)
    data.trainer = trainer
    data.setup("test")
    return data, data.test_dataloader()[0].dataset


def test_a_re_rendered_world_gets_its_own_cache_file_and_the_same_one_is_read_back(tmp_path):
    module = CPTModule(["a", "b"], clip_name_or_path="builtin:world_clip")  # image features ignore the classes
    data, first = _test_set(module, tmp_path, 2026)
    _, again = _test_set(module, tmp_path, 2026)
    _, other = _test_set(module, tmp_path, 7)
    assert first.built and not again.built and other.built
    assert again.cache_file == first.cache_file != other.cache_file
    torch.testing.assert_close(again.features, first.features, rtol=0, atol=0)
    images = torch.stack([data._eval_transform(data.load_image(key)) for key, _ in data.test_items["base"]])
    with torch.no_grad():
        expected = module.clip.encode_images(images)
    torch.testing.assert_close(first.features[:, 0], expected, rtol=1e-5, atol=1e-6)
    assert isinstance(first[0][0], ImageFeatures)
