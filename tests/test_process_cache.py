"""The process-level cache of frozen values: reused inside `process_cache()`, keyed by what determines them."""

from __future__ import annotations

import shutil

import pytest
import torch

from cpt_lightning.models import CPTModule
from cpt_lightning.models.frozen_clip import FrozenClip
from cpt_lightning.process_cache import ProcessCache, active_cache, cached, process_cache

pytestmark = pytest.mark.model

CLASSNAMES = ["cat", "dog", "sea lion"]


def test_values_are_built_once_per_key_inside_the_block_and_every_time_outside():
    calls = []

    def build():
        calls.append(1)
        return len(calls)

    assert cached("kind", "a", build) == 1 and cached("kind", "a", build) == 2  # no block: always built
    with process_cache() as cache:
        assert cached("kind", "a", build) == 3
        assert cached("kind", "a", build) == 3
        assert cached("kind", "b", build) == 4  # another key
        assert cached("other", "a", build) == 5  # another kind
        assert cached("kind", None, build) == 6  # no key: never shared
        with process_cache() as inner:
            assert inner is cache and cached("kind", "a", build) == 3
        assert (cache.hits["kind"], cache.misses["kind"]) == (2, 2)
    assert active_cache() is None


def test_a_stored_value_that_fails_its_check_is_rebuilt():
    cache = ProcessCache()
    value = {"dtype": "float32"}
    assert cache.get("k", 1, lambda: value) is value
    value["dtype"] = "bfloat16"  # changed in place by a run
    rebuilt = cache.get("k", 1, lambda: {"dtype": "float32"}, valid=lambda v: v["dtype"] == "float32")
    assert rebuilt is not value and rebuilt["dtype"] == "float32"


def test_each_kind_keeps_its_most_recently_used_values_up_to_its_limit():
    cache = ProcessCache(limits={"big": 2})
    for key in ("a", "b"):
        cache.get("big", key, lambda key=key: key.upper())
    cache.get("big", "a", lambda: "rebuilt")  # a is now the most recent
    cache.get("big", "c", lambda: "C")  # evicts b, the least recently used
    assert cache.get("big", "a", lambda: "rebuilt") == "A"
    assert cache.get("big", "b", lambda: "rebuilt") == "rebuilt"
    assert len(cache) == 2


def test_the_clip_is_loaded_once_per_directory_and_reloaded_when_its_files_or_dtype_change(tiny_clip_dir, tmp_path):
    copy = shutil.copytree(tiny_clip_dir, tmp_path / "clip")
    with process_cache() as cache:
        first, second = FrozenClip.from_pretrained(str(copy)), FrozenClip.from_pretrained(str(copy))
        assert second.model is first.model and second.tokenizer is first.tokenizer
        first.model.to(torch.bfloat16)  # as precision="bf16-true" would: the shared weights changed
        third = FrozenClip.from_pretrained(str(copy))
        assert third.model is not first.model and third.model.dtype == torch.float32
        weights = copy / "model.safetensors"
        weights.write_bytes(weights.read_bytes())  # re-saved: new modification time
        assert FrozenClip.from_pretrained(str(copy)).model is not third.model
        assert cache.misses["clip"] == 3 and cache.hits["clip"] == 1
    assert FrozenClip.from_pretrained(str(copy)).model is not FrozenClip.from_pretrained(str(copy)).model


def test_shared_zero_shot_features_equal_freshly_computed_ones_and_follow_the_class_list(tiny_clip_dir):
    fresh = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir)).zero_shot_text_features()
    with process_cache() as cache:
        module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
        other_run = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
        first = module.zero_shot_text_features()
        again = other_run.zero_shot_text_features()
        subset = other_run.zero_shot_text_features(CLASSNAMES[:2])
        two_templates = other_run.zero_shot_text_features(templates=["a photo of a {}.", "a {}."])
        assert cache.hits["zero_shot_text_features"] == 1
    torch.testing.assert_close(first, fresh, rtol=0, atol=0)
    torch.testing.assert_close(again, fresh, rtol=0, atol=0)
    assert again.data_ptr() != first.data_ptr()  # each run gets its own copy
    torch.testing.assert_close(subset, fresh[:2], rtol=0, atol=0)
    assert not torch.allclose(two_templates, fresh)
