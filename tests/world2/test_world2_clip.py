"""The shipped world2 CLIP: small, a 64-d embedding, hierarchical clusters at S=16, zero-shot transfer."""

import numpy as np
import pytest

from cpt_lightning.clustering import assign_clusters
from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.tools.world2_facts import cosine_margin, family_labels, load_clip, prototypes, purity, zero_shot
from cpt_lightning.world.hier import HierWorldDataset, hier_dataset_names, world2_clip_path

pytestmark = pytest.mark.model

# Pretraining draws from seed path (seed, 8_888_888), datasets from (seed, crc32(name), split), and
# docs/world2.md renders with seed 12345: these test images were never seen anywhere else.
EVALUATION_SEED = 2024
IMAGES_PER_CLASS = 4


@pytest.fixture(scope="module")
def clip():
    return load_clip()


@pytest.fixture(scope="module")
def base_prototypes(clip):
    model, tokenizer, _ = clip
    dataset = HierWorldDataset("night")
    base, _ = base_new_split(len(dataset.classnames))
    return prototypes(model, tokenizer, [dataset.classnames[k] for k in base]), dataset.class_codes[base]


def test_shipped_checkpoint_is_small_and_complete():
    path = world2_clip_path()
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
    ):
        assert (path / name).is_file(), name
    assert sum(f.stat().st_size for f in path.iterdir()) <= 16 * 2**20


def test_more_base_classes_than_a_global_simplex_fits(base_prototypes):
    features, _ = base_prototypes
    k_base, dimension = features.shape
    assert dimension == 64 and k_base == 128 and k_base > dimension + 1


def test_cosine_clusters_at_s16_are_many_and_follow_the_families(base_prototypes):
    features, codes = base_prototypes
    clusters = assign_clusters(features, max_cluster_size=16, method="cosine", seed=0).numpy()
    assert clusters.max() + 1 >= 8
    # the same cluster sizes with classes dealt at random: what chance gives
    random_clusters = np.random.default_rng(0).permutation(clusters)
    assert cosine_margin(features, clusters) > cosine_margin(features, random_clusters) + 0.2
    # at least 8 clusters each hold >= 75% of one colour family (the names carry it: "bluish navy pentagon")
    colour_family = family_labels(codes)["colour family"]
    held = [np.bincount(colour_family[clusters == c]).max() / (clusters == c).sum() for c in np.unique(clusters)]
    assert sum(share >= 0.75 for share in held) >= 8
    assert purity(clusters, colour_family) >= purity(random_clusters, colour_family) + 0.3


@pytest.mark.parametrize("name", hier_dataset_names())
def test_zero_shot_on_new_classes_clears_the_bar(clip, name):
    model, tokenizer, settings = clip
    counts = [0] * 128 + [IMAGES_PER_CLASS] * 128  # new classes only
    accuracy = zero_shot(model, tokenizer, settings, HierWorldDataset(name), counts, EVALUATION_SEED)
    chance = 1 / 128
    assert accuracy["new"] >= max(0.25, 20 * chance), f"{name}: zero-shot new-class top-1 {accuracy['new']:.3f}"
