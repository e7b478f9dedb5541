"""The per-fit memos of the cluster terms (layout, frozen Procrustes factor) never change a value."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.losses import LossInputs, RotationStabilizationTerm
from cpt_lightning.losses.rotation_stabilization import procrustes_align


def test_layout_memo_follows_the_assignment_tensor_and_its_in_place_changes():
    ids = torch.tensor([0, 1, 0, 2, 1, 0])
    first = ClusterLayout.for_assignment(ids)
    assert ClusterLayout.for_assignment(ids) is first  # same tensor, unchanged: reused

    ids[5] = 2  # an in-place change bumps the version counter
    changed = ClusterLayout.for_assignment(ids)
    assert changed is not first
    assert changed.sizes.tolist() == [2, 2, 2]

    equal_values = ids.clone()  # another tensor: its own layout, equal to a fresh one
    other = ClusterLayout.for_assignment(equal_values)
    fresh = ClusterLayout.from_ids(equal_values)
    assert other is not changed
    for name in ("index", "mask", "sizes", "inverse"):
        assert torch.equal(getattr(other, name), getattr(fresh, name))


def test_layout_cached_views_equal_their_definitions():
    ids = torch.tensor([3, 3, 7, 1, 7, 3, 9])
    layout = ClusterLayout.from_ids(ids)
    counts = torch.bincount(ids)
    assert torch.equal(layout.class_in_cluster, counts[ids] >= 2)
    assert layout.multi_member_clusters.tolist() == [1, 2]  # dense ids of clusters 3 and 7
    assert layout.has_multi_member_cluster
    assert not ClusterLayout.from_ids(torch.arange(4)).has_multi_member_cluster
    slots = layout.mask.shape[1]
    for c in range(len(layout.sizes)):
        for i in range(slots):
            for j in range(slots):
                expected = bool(layout.mask[c, i] and layout.mask[c, j] and i != j)
                assert bool(layout.pair_mask[c, i, j]) == expected


def test_rotation_term_with_its_frozen_memo_equals_a_direct_computation_bitwise():
    generator = torch.Generator().manual_seed(3)
    frozen = F.normalize(torch.randn(30, 12, generator=generator), dim=-1)
    ids = torch.randint(0, 4, (30,), generator=generator)
    term = RotationStabilizationTerm()
    for step in range(3):  # the first step fills the memo, the later ones use it
        tuned = F.normalize(frozen + 0.2 * torch.randn(30, 12, generator=generator), dim=-1)
        inputs = LossInputs(
            logits=torch.zeros(1, 30),
            labels=torch.zeros(1, dtype=torch.long),
            image_features=torch.zeros(1, 12),
            text_features=tuned,
            frozen_text_features=frozen,
            cluster_ids=ids,
        )
        layout = ClusterLayout.from_ids(ids)
        aligned = procrustes_align(layout.gather(frozen), layout.gather(tuned))
        per_cluster = (layout.gather(tuned) - aligned).square().sum(dim=(1, 2)) / layout.sizes.float()
        expected = per_cluster[layout.sizes >= 2].mean()
        assert torch.equal(term(inputs), expected), f"step {step}"

    moved = F.normalize(frozen + 0.5, dim=-1)  # new t0: the memo must not be used
    inputs.frozen_text_features = moved
    layout = ClusterLayout.from_ids(ids)
    aligned = procrustes_align(layout.gather(moved), layout.gather(inputs.text_features))
    per_cluster = (layout.gather(inputs.text_features) - aligned).square().sum(dim=(1, 2)) / layout.sizes.float()
    assert torch.equal(term(inputs), per_cluster[layout.sizes >= 2].mean())
