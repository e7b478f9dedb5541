import pytest
import torch
import torch.nn.functional as F

from cpt_lightning.losses import KgCoOpAnchorTerm, LossInputs


def test_kgcoop_anchor_is_mean_one_minus_cosine():
    generator = torch.Generator().manual_seed(0)
    tuned = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    frozen = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    inputs = LossInputs(
        logits=torch.zeros(1, 6),
        labels=torch.zeros(1, dtype=torch.long),
        image_features=torch.zeros(1, 8),
        text_features=tuned,
        frozen_text_features=frozen,
    )
    term = KgCoOpAnchorTerm(weight=8.0)
    expected = sum(1 - float(tuned[k] @ frozen[k]) for k in range(6)) / 6
    assert term(inputs).item() == pytest.approx(expected, rel=1e-5)
    assert term.needs_frozen_text and not term.needs_clusters
    inputs.text_features = frozen
    assert term(inputs).item() <= 1e-6
