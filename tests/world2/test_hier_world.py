"""The hierarchical world's facts: class count, two-level hierarchy, base/new family coverage, captions."""

import math

import numpy as np
import pytest

from cpt_lightning.data.sampling import base_new_split
from cpt_lightning.tools.pretrain_world2_clip import world2_clip_config, world2_tokenizer
from cpt_lightning.world.attributes import STYLES
from cpt_lightning.world.captions import UNSPECIFIED, caption_fits
from cpt_lightning.world.hier import (
    COLOUR_FAMILIES,
    SHAPE_FAMILIES,
    HierWorldDataset,
    hier_dataset_names,
    make_hier_captions,
    render_hier,
    sample_hier_objects,
)
from cpt_lightning.world.hier.attributes import COLOURS, SHAPES
from cpt_lightning.world.hier.captions import hier_vocabulary_words
from cpt_lightning.world.hier.shapes import shape_masks
from cpt_lightning.world.tokenizer import build_world_tokenizer


def test_every_dataset_has_256_classes_over_a_two_level_hierarchy():
    assert len(hier_dataset_names()) >= 3
    for name in hier_dataset_names():
        dataset = HierWorldDataset(name)
        assert len(dataset.classnames) == len(set(dataset.classnames)) == 256
        # each class is one shade and one shape; each shade and shape has exactly one family
        for (colour_family, colour, shape_family, shape), classname in zip(
            dataset.class_codes, dataset.classnames, strict=True
        ):
            assert classname == f"{list(COLOUR_FAMILIES)[colour_family]} {COLOURS[colour]} {SHAPES[shape]}"
            assert COLOURS[colour] in list(COLOUR_FAMILIES.values())[colour_family]
            assert SHAPES[shape] in list(SHAPE_FAMILIES.values())[shape_family]
    for families in (COLOUR_FAMILIES, SHAPE_FAMILIES):
        assert len(families) >= 2 and all(len(members) >= 2 for members in families.values())


def test_base_and_new_classes_share_every_family_shade_and_shape():
    dataset = HierWorldDataset("night")
    base, new = base_new_split(len(dataset.classnames))
    assert len(base) == 128 == len(new)
    for column in range(4):  # colour family, colour, shape family, shape
        assert set(dataset.class_codes[base, column]) == set(dataset.class_codes[new, column])
    # every (colour family, shape family) pair: half of its 16 classes on each side
    pairs = dataset.class_codes[:, 0] * 4 + dataset.class_codes[:, 2]
    assert np.bincount(pairs[base], minlength=16).tolist() == [8] * 16
    assert np.bincount(pairs[new], minlength=16).tolist() == [8] * 16


def test_more_base_classes_than_one_simplex_fits_in_the_embedding():
    dimension = world2_clip_config(world2_tokenizer()).projection_dim
    k_base = len(base_new_split(len(HierWorldDataset("blur").classnames))[0])
    assert k_base > dimension + 1  # a K-vector simplex ETF needs K - 1 dimensions


def test_rendering_is_deterministic_and_leaves_the_global_rng_alone():
    dataset = HierWorldDataset("clutter")
    counts = [1] * 4 + [0] * 252
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    images, labels = dataset.render_split("train", counts, seed=3)
    assert np.random.random() == expected
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8 and labels.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(images, dataset.render_split("train", counts, seed=3)[0])
    assert not np.array_equal(images, dataset.render_split("test", counts, seed=3)[0])
    with pytest.raises(ValueError, match="one per class"):
        dataset.render_split("train", [1, 2], seed=0)


def test_dataset_pictures_carry_their_class_and_style():
    dataset = HierWorldDataset("sketches")
    rng = np.random.default_rng(0)
    labels = rng.integers(256, size=40)
    objects = dataset.objects_for(labels, rng)
    np.testing.assert_array_equal(objects.colour, dataset.class_codes[labels, 1])
    np.testing.assert_array_equal(objects.shape, dataset.class_codes[labels, 3])
    assert set(objects.style.tolist()) == {STYLES.index("sketch")}


def test_captions_name_a_member_a_family_or_nothing_and_fit_their_picture():
    rng = np.random.default_rng(4)
    objects = sample_hier_objects(400, rng)
    captions, codes = make_hier_captions(objects, rng)
    truth = objects.as_matrix()
    kept = codes != UNSPECIFIED
    np.testing.assert_array_equal(codes[kept], truth[kept])
    assert caption_fits(codes, truth).diagonal().all()
    # naming a member implies its family; a family can be named without its member
    assert not np.any(kept[:, 1] & ~kept[:, 0]) and not np.any(kept[:, 3] & ~kept[:, 2])
    assert np.any(kept[:, 0] & ~kept[:, 1]) and np.any(kept[:, 2] & ~kept[:, 3])
    colour_family_words, shape_family_words = list(COLOUR_FAMILIES), list(SHAPE_FAMILIES)
    for caption, (cf, c, sf, s, _) in zip(captions, codes.tolist(), strict=True):
        words = caption.rstrip(".").split()
        assert [w for w in words if w in COLOURS] == ([COLOURS[c]] if c != UNSPECIFIED else []), caption
        assert [w for w in words if w in SHAPES] == ([SHAPES[s]] if s != UNSPECIFIED else []), caption
        named_colour_family = [w for w in words if w in colour_family_words]
        assert named_colour_family == ([colour_family_words[cf]] if cf != UNSPECIFIED and c == UNSPECIFIED else [])
        named_shape_family = [w for w in words if w in shape_family_words]
        assert named_shape_family == ([shape_family_words[sf]] if sf != UNSPECIFIED and s == UNSPECIFIED else [])


def test_every_caption_word_is_in_the_tokenizer():
    tokenizer = build_world_tokenizer(words=hier_vocabulary_words())
    rng = np.random.default_rng(2)
    captions, _ = make_hier_captions(sample_hier_objects(200, rng, {"photo": 0.5, "blur": 0.5}), rng)
    ids = tokenizer(captions + [f"a photo of a {c}." for c in HierWorldDataset("night").classnames])["input_ids"]
    assert all(tokenizer.unk_token_id not in row for row in ids)
    assert max(len(row) for row in ids) <= 16  # pretraining's TEXT_LENGTH


def test_shapes_fill_the_disc_and_differ():
    axis = np.linspace(-1.5, 1.5, 64)
    u, v = np.meshgrid(axis, axis)
    n = len(SHAPES)
    masks = shape_masks(np.broadcast_to(u, (n, 64, 64)), np.broadcast_to(v, (n, 64, 64)), np.arange(n))
    within_reach = u**2 + v**2 <= 1.4**2  # the documented extent: polygon corners reach 1.4 radii
    for i in range(n):
        assert masks[i].mean() > 0.05 and not np.any(masks[i] & ~within_reach), SHAPES[i]
        for j in range(i):
            iou = (masks[i] & masks[j]).sum() / (masks[i] | masks[j]).sum()
            assert iou < 0.9, (SHAPES[i], SHAPES[j], iou)


def test_shades_of_a_family_are_closer_in_hue_than_shades_of_other_families():
    from cpt_lightning.world.hier.attributes import COLOUR_RGB

    # direction of each shade's chroma (RGB minus its grey level), compared by cosine
    chroma = COLOUR_RGB - COLOUR_RGB.mean(axis=1, keepdims=True)
    chroma /= np.linalg.norm(chroma, axis=1, keepdims=True)
    cosine = chroma @ chroma.T
    family = np.arange(len(COLOURS)) // 4
    same = (family[:, None] == family[None, :]) & ~np.eye(len(COLOURS), dtype=bool)
    for k in range(len(COLOURS)):
        assert cosine[k][same[k]].min() > cosine[k][family != family[k]].max(), COLOURS[k]


def test_render_draws_the_main_object_in_its_colour():
    rng = np.random.default_rng(0)
    objects = sample_hier_objects(32, rng)
    images = render_hier(objects, rng).astype(float) / 255
    from cpt_lightning.world.hier.attributes import COLOUR_RGB

    # the pixel nearest in colour to the object's shade is much nearer than to a random other shade
    for image, colour in zip(images, objects.colour, strict=True):
        distance = np.linalg.norm(image.reshape(-1, 3)[:, None, :] - COLOUR_RGB[None], axis=2).min(axis=0)
        assert distance[colour] < 0.12
    assert math.isfinite(images.mean())
