import pytest
import torch
import torch.nn.functional as F

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses import ClassConvergenceTerm, LossInputs
from cpt_lightning.losses.class_convergence import cluster_image_origins

# 7 classes: clusters {0, 3, 5}, {1, 6}, {2, 4}; class sizes in the batch are uneven on purpose.
CLUSTER_IDS = torch.tensor([0, 1, 2, 0, 2, 0, 1])
LABELS = torch.tensor([0, 0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 6])


def prototypes(seed: int = 0, k: int = 7, dim: int = 12) -> torch.Tensor:
    return F.normalize(torch.randn(k, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def inputs_for(image, labels, text, ids=CLUSTER_IDS) -> LossInputs:
    return LossInputs(
        logits=torch.zeros(len(labels), text.shape[0]),
        labels=labels,
        image_features=image,
        text_features=text,
        cluster_ids=ids,
    )


def test_zero_when_images_are_their_prototypes_in_the_cluster_local_frame():
    # f = 2 t_k + b_C: in the frame (f - m_C, t - mu_C) every image is parallel to its prototype.
    text = prototypes()
    offsets = torch.randn(3, 12, generator=torch.Generator().manual_seed(1))
    image = 2.0 * text[LABELS] + offsets[CLUSTER_IDS[LABELS]]
    term = ClassConvergenceTerm(variant="cluster_local")
    assert term(inputs_for(image, LABELS, text)).item() <= 1e-6


def test_positive_for_random_images():
    text = prototypes()
    image = F.normalize(torch.randn(len(LABELS), 12, generator=torch.Generator().manual_seed(2)), dim=-1)
    assert ClassConvergenceTerm()(inputs_for(image, LABELS, text)).item() > 0.1


def test_plain_variant_zero_at_prototypes_positive_otherwise_and_needs_no_clusters():
    text = prototypes()
    term = ClassConvergenceTerm(variant="plain")
    assert not term.needs_clusters
    assert term(inputs_for(text[LABELS], LABELS, text, ids=None)).item() <= 1e-6
    image = F.normalize(torch.randn(len(LABELS), 12, generator=torch.Generator().manual_seed(3)), dim=-1)
    expected = (1 - (image * text[LABELS]).sum(-1)).mean()
    assert term(inputs_for(image, LABELS, text, ids=None)).item() == pytest.approx(expected.item(), rel=1e-5)


def test_running_means_start_at_the_first_batch_mean_then_blend():
    generator = torch.Generator().manual_seed(4)
    text = prototypes()
    term = ClassConvergenceTerm(ema_momentum=0.75)
    first = torch.randn(len(LABELS), 12, generator=generator)
    term(inputs_for(first, LABELS, text))
    for k in range(7):
        torch.testing.assert_close(term.class_image_means[k], first[LABELS.eq(k)].mean(0))
    second_labels = torch.tensor([0, 0, 2])
    second = torch.randn(3, 12, generator=generator)
    term(inputs_for(second, second_labels, text))
    torch.testing.assert_close(term.class_image_means[0], 0.75 * first[LABELS == 0].mean(0) + 0.25 * second[:2].mean(0))
    torch.testing.assert_close(term.class_image_means[1], first[LABELS == 1].mean(0))
    term.eval()
    term(inputs_for(torch.randn(3, 12), second_labels, text))
    torch.testing.assert_close(term.class_image_means[1], first[LABELS == 1].mean(0))
    # A momentum changed between steps (a schedule) is the one the next blend uses: the shares are cached.
    term.train()
    term.ema_momentum = 0.5
    before = term.class_image_means[0].clone()
    third = torch.randn(2, 12, generator=generator)
    term(inputs_for(third, torch.tensor([0, 0]), text))
    torch.testing.assert_close(term.class_image_means[0], 0.5 * before + 0.5 * third.mean(0))


def test_a_class_first_seen_later_starts_at_its_batch_mean_and_the_buffers_keep_their_identity():
    generator = torch.Generator().manual_seed(5)
    text = prototypes()
    term = ClassConvergenceTerm(ema_momentum=0.9)
    first_labels = torch.tensor([0, 0, 3])
    first = torch.randn(3, 12, generator=generator)
    term(inputs_for(first, first_labels, text))
    means, seen = term.class_image_means, term.class_seen
    assert seen.tolist() == [True, False, False, True, False, False, False]
    assert torch.all(means[~seen] == 0)
    second_labels = torch.tensor([0, 6, 6, 6])
    second = torch.randn(4, 12, generator=generator)
    term(inputs_for(second, second_labels, text))
    assert term.class_image_means is means and term.class_seen is seen  # updated in place
    torch.testing.assert_close(means[6], second[1:].mean(0))  # no blend with the zero it started at
    torch.testing.assert_close(means[0], 0.9 * first[:2].mean(0) + 0.1 * second[0])
    torch.testing.assert_close(means[3], first[2])  # absent from the batch: kept
    assert seen.tolist() == [True, False, False, True, False, False, True]


def test_cluster_image_origins_are_the_means_of_the_seen_members_running_means():
    generator = torch.Generator().manual_seed(6)
    means = torch.randn(7, 5, generator=generator)
    seen = torch.tensor([True, False, True, True, False, False, True])
    origins = cluster_image_origins(means, seen, ClusterLayout.from_ids(CLUSTER_IDS))
    for cluster in range(3):
        members = [k for k in range(7) if CLUSTER_IDS[k] == cluster and seen[k]]
        expected = means[members].mean(0) if members else torch.zeros(5)  # cluster 2 = {2, 4}: only 2 seen
        torch.testing.assert_close(origins[cluster], expected)
    # A cluster none of whose classes was seen yet has its origin at zero (nothing to average).
    assert torch.all(cluster_image_origins(means, torch.zeros(7, dtype=torch.bool), CLUSTER_IDS) == 0)


def test_running_means_are_checkpointed_and_restored_into_a_fresh_term():
    # Training state (like optimizer momentum): a resumed fit must continue from the same means.
    term = ClassConvergenceTerm()
    term(inputs_for(torch.randn(len(LABELS), 12), LABELS, prototypes()))
    assert term.class_image_means.shape == (7, 12)
    state = term.state_dict()
    restored = ClassConvergenceTerm()
    restored.load_state_dict(state)
    assert torch.equal(restored.class_image_means, term.class_image_means)
    assert torch.equal(restored.class_seen, term.class_seen)


def test_singleton_clusters_are_skipped_or_use_the_global_frame():
    text = prototypes()
    ids = torch.tensor([0, 1, 2, 0, 2, 0, 3])  # class 1 and class 6 are singletons
    singleton_labels = torch.tensor([1, 6, 6])
    image = F.normalize(torch.randn(3, 12), dim=-1)
    assert ClassConvergenceTerm(singletons="skip")(inputs_for(image, singleton_labels, text, ids)).item() == 0
    # With the global frame, f = 2 t_k + b for all classes is parallel after centring both modalities.
    all_labels = torch.arange(7).repeat(2)
    offset = torch.randn(12)
    image = 2.0 * text[all_labels] + offset
    term = ClassConvergenceTerm(singletons="global_frame")
    singles = inputs_for(image, all_labels, text, torch.tensor([0, 1, 2, 3, 4, 5, 6]))
    assert term(singles).item() <= 1e-6
