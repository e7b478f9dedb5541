"""The world generator: determinism by seed, class lists, captions that tell the truth about pictures."""

import math

import numpy as np
import pytest

from cpt_lightning.world import (
    ATTRIBUTE_VALUES,
    WorldDataset,
    make_captions,
    render,
    render_split,
    sample_objects,
    world_dataset_names,
)
from cpt_lightning.world.captions import UNSPECIFIED, caption_fits
from cpt_lightning.world.render import paint
from cpt_lightning.world.shapes import shape_masks


def test_same_seed_same_images_other_seed_or_split_other_images():
    images, labels = render_split("sketches", "train", 2, seed=1)
    again, again_labels = render_split("sketches", "train", 2, seed=1)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(images, render_split("sketches", "train", 2, seed=2)[0])
    assert not np.array_equal(images, render_split("sketches", "test", 2, seed=1)[0])


def test_counts_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="one per class"):
        render_split("night", "train", [1, 2, 3], seed=0)


def test_render_does_not_touch_the_global_rng():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    render_split("night", "val", 1, seed=3)
    assert np.random.random() == expected


def test_counts_per_class_give_grouped_labels():
    dataset = WorldDataset("blur")
    counts = [3 if k % 2 else 1 for k in range(len(dataset.classnames))]
    images, labels = dataset.render_split("train", counts, seed=0)
    assert images.shape == (sum(counts), 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels, minlength=len(counts)), counts)
    assert np.all(np.diff(labels) >= 0)


@pytest.mark.parametrize("name", world_dataset_names())
def test_class_lists_are_sorted_unique_attribute_combinations(name):
    dataset = WorldDataset(name)
    attributes = dataset.spec.class_attributes
    assert dataset.classnames == sorted(dataset.classnames)
    assert len(set(dataset.classnames)) == math.prod(len(ATTRIBUTE_VALUES[a]) for a in attributes)
    for classname, codes in zip(dataset.classnames, dataset.class_codes, strict=True):
        expected_words = [ATTRIBUTE_VALUES[a][c] for a, c in zip(attributes, codes, strict=True)]
        assert sorted(classname.split()) == sorted(expected_words)


def test_world_dataset_pictures_carry_their_class_attributes():
    dataset = WorldDataset("sepia")
    rng = np.random.default_rng(0)
    labels = rng.integers(len(dataset.classnames), size=50)
    objects = dataset.objects_for(labels, rng)
    for attribute, column in zip(dataset.spec.class_attributes, dataset.class_codes.T, strict=True):
        np.testing.assert_array_equal(getattr(objects, attribute), column[labels])
    assert set(objects.style) == {ATTRIBUTE_VALUES["style"].index("sepia")}


def test_captions_name_exactly_the_attributes_their_codes_keep():
    rng = np.random.default_rng(5)
    objects = sample_objects(300, rng, {"photo": 0.5, "sketch": 0.5}, (0.0, 0.5))
    captions, codes = make_captions(objects, rng, style_mention_probability=0.5)
    truth = objects.as_matrix()
    kept = codes != UNSPECIFIED
    np.testing.assert_array_equal(codes[kept], truth[kept])
    assert 0.5 < kept[:, :3].mean() < 0.9  # attributes are dropped, but not most of them
    for caption, row in zip(captions, codes, strict=True):
        words = caption.rstrip(".").split()
        for column, (_attribute, values) in enumerate(list(ATTRIBUTE_VALUES.items())[:4]):
            named = [w for w in words if w in values]
            assert named == ([values[row[column]]] if row[column] != UNSPECIFIED else []), caption
        if row[4] == UNSPECIFIED:
            assert not {"sketch", "drawing", "clean", "sharp"} & set(words), caption


def test_caption_fits_hand_computed_case():
    pictures = np.array([[0, 1, 2, 3, 0], [1, 1, 2, 4, 0]])
    captions = np.array([[-1, -1, 2, -1, -1], [-1, -1, -1, 3, -1], [1, -1, -1, -1, 0], [-1, -1, -1, -1, 1]])
    expected = np.array([[True, True, False, False], [True, False, True, False]])
    np.testing.assert_array_equal(caption_fits(captions, pictures), expected)


def test_every_caption_fits_its_own_picture():
    rng = np.random.default_rng(1)
    objects = sample_objects(64, rng)
    _, codes = make_captions(objects, rng)
    assert caption_fits(codes, objects.as_matrix()).diagonal().all()


def test_shapes_are_distinguishable():
    axis = np.linspace(-1.2, 1.2, 64)
    u, v = np.meshgrid(axis, axis)
    n_shapes = len(ATTRIBUTE_VALUES["shape"])
    masks = shape_masks(
        np.broadcast_to(u, (n_shapes, 64, 64)), np.broadcast_to(v, (n_shapes, 64, 64)), np.arange(n_shapes)
    )
    for i in range(n_shapes):
        assert masks[i].mean() > 0.05
        for j in range(i):
            iou = (masks[i] & masks[j]).sum() / (masks[i] | masks[j]).sum()
            # circle vs hexagon is the closest pair (IoU ~0.85): fine-grained, yet not the same shape
            assert iou < 0.9, (i, j, iou)


def test_styles_change_the_picture():
    rng = np.random.default_rng(0)
    clean = sample_objects(8, rng)
    clean_images = render(clean, np.random.default_rng(1))
    for code, style in enumerate(ATTRIBUTE_VALUES["style"][1:], start=1):
        shifted = clean.subset(np.arange(8))
        shifted = type(clean)(**{**shifted.__dict__, "style": np.full(8, code), "severity": np.ones(8, np.float32)})
        difference = np.abs(render(shifted, np.random.default_rng(1)).astype(int) - clean_images).mean()
        assert difference > 5, (style, difference)


@pytest.mark.parametrize("alpha", [1.0, "per_image"])
def test_paint_is_the_dense_alpha_blend_bit_for_bit(alpha):
    # `paint` computes only the masked pixels; the dense blend, written out here, touches every pixel.
    rng = np.random.default_rng(0)
    canvas = rng.uniform(0.0, 1.0, (5, 8, 8, 3)).astype(np.float32)
    mask = rng.uniform(size=(5, 8, 8)) < 0.3
    colour = rng.uniform(0.0, 1.0, (5, 1, 1, 3))  # float64, as the renderers' colours are
    opacity = rng.uniform(0.0, 1.0, 5) if alpha == "per_image" else alpha
    weight = mask[..., None] * np.asarray(opacity, dtype=np.float32).reshape(-1, 1, 1, 1)
    expected = canvas.copy()
    expected *= 1.0 - weight
    expected += weight * colour
    painted = canvas.copy()
    paint(painted, mask, colour, opacity)
    assert painted.dtype == np.float32 and np.array_equal(painted, expected)
    assert np.array_equal(painted[~mask], canvas[~mask])  # unmasked pixels untouched
