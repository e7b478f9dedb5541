"""The cluster layout is built once per installed assignment, and what terms prepare from it never changes a value."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cpt_lightning.clustering.layout import ClusterLayout
from cpt_lightning.clustering.procrustes import procrustes_align
from cpt_lightning.losses import ClassConvergenceTerm, EtfSeparationTerm, LossInputs, RotationStabilizationTerm
from cpt_lightning.models import CPTModule


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


def test_unprepared_rotation_term_equals_a_direct_computation_bitwise():
    generator = torch.Generator().manual_seed(3)
    frozen = F.normalize(torch.randn(30, 12, generator=generator), dim=-1)
    ids = torch.randint(0, 4, (30,), generator=generator)
    term = RotationStabilizationTerm()
    for step in range(3):
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

    moved = F.normalize(frozen + 0.5, dim=-1)  # another t0 gives another value
    inputs.frozen_text_features = moved
    layout = ClusterLayout.from_ids(ids)
    aligned = procrustes_align(layout.gather(moved), layout.gather(inputs.text_features))
    per_cluster = (layout.gather(inputs.text_features) - aligned).square().sum(dim=(1, 2)) / layout.sizes.float()
    assert torch.equal(term(inputs), per_cluster[layout.sizes >= 2].mean())


def _inputs(text, frozen, ids, clusters=None) -> LossInputs:
    return LossInputs(
        logits=torch.zeros(4, len(ids)),
        labels=torch.arange(4) % len(ids),
        image_features=F.normalize(text[:4] + 0.1, dim=-1),
        text_features=text,
        frozen_text_features=frozen,
        cluster_ids=ids,
        clusters=clusters,
    )


def test_prepared_terms_with_the_installed_layout_equal_unprepared_ones_bitwise():
    generator = torch.Generator().manual_seed(5)
    frozen = F.normalize(torch.randn(20, 8, generator=generator), dim=-1)
    ids = torch.randint(0, 3, (20,), generator=generator)
    layout = ClusterLayout.from_ids(ids)
    for make in (RotationStabilizationTerm, EtfSeparationTerm, ClassConvergenceTerm):
        prepared, plain = make(), make()
        prepared.prepare(layout, frozen)
        for _ in range(2):
            tuned = F.normalize(frozen + 0.3 * torch.randn(20, 8, generator=generator), dim=-1)
            assert torch.equal(prepared(_inputs(tuned, frozen, ids, layout)), plain(_inputs(tuned, frozen, ids))), make

    # A term prepared for one layout computes afresh for another (never a stale frozen factor).
    other_ids = (ids + 1) % 3
    rotation = RotationStabilizationTerm()
    rotation.prepare(layout, frozen)
    other = ClusterLayout.from_ids(other_ids)
    tuned = F.normalize(frozen + 0.3, dim=-1)
    expected = RotationStabilizationTerm()(_inputs(tuned, frozen, other_ids))
    assert torch.equal(rotation(_inputs(tuned, frozen, other_ids, other)), expected)


def test_module_builds_the_layout_once_per_installed_assignment(tiny_clip_dir):
    classnames = [f"class {k}" for k in range(6)]
    module = CPTModule(classnames, clip_name_or_path=str(tiny_clip_dir), loss_terms=[RotationStabilizationTerm()])
    assert module.cluster_layout is None  # no assignment yet
    ids = torch.tensor([0, 1, 0, 2, 1, 0])
    module.set_cluster_assignment(ids)
    first = module.cluster_layout
    assert module.cluster_layout is first  # every later step reuses it
    for name in ("index", "mask", "sizes", "inverse"):
        assert torch.equal(getattr(first, name), getattr(ClusterLayout.from_ids(ids), name))

    module.set_cluster_assignment(torch.tensor([0, 0, 1, 1, 2, 2]))
    assert module.cluster_layout is not first
    assert module.cluster_layout.sizes.tolist() == [2, 2, 2]

    state = module.state_dict()
    state["cluster_ids"] = ids.clone()
    before = module.cluster_layout
    module.load_state_dict(state, strict=False)  # loading an assignment installs it too
    assert module.cluster_layout is not before
    assert module.cluster_layout.sizes.tolist() == [3, 2, 1]
