"""CPTModule's evaluation: base/new/HM and head/medium/tail keys equal a direct computation."""

from __future__ import annotations

import pytest
import torch

from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.metrics.class_accuracy import harmonic_mean
from cpt_lightning.models import CPTModule
from cpt_lightning.testing import quiet_trainer

CLASSNAMES = ["cat", "dog", "sea lion", "shark", "airliner", "goldfish", "tabby"]  # base: first 4, new: last 3
GROUPS = ["head", "medium", "tail", "tail"]


@pytest.mark.model
def test_base_to_new_test_reports_base_new_hm_and_groups(tiny_clip_dir, tmp_path):
    data = GeneratedDataModule(CLASSNAMES, eval_per_class=3, batch_size=5, subsample="base_to_new", class_groups=GROUPS)
    module = CPTModule(data.classnames, clip_name_or_path=str(tiny_clip_dir), prompt_learner=None, class_groups=GROUPS)
    trainer = quiet_trainer(tmp_path)
    trainer.test(module, data)
    logged = {k: v.item() for k, v in trainer.callback_metrics.items()}

    expected = {}
    for set_name, names in data.eval_classnames.items():
        images, labels = data.eval_sets[set_name].images, data.eval_sets[set_name].labels
        with torch.no_grad():
            predicted = module(images, names).argmax(-1)
        correct = predicted == labels
        expected[set_name] = correct.float().mean().item()
        per_class = [correct[labels == k].float().mean().item() for k in range(len(names))]
        assert module.eval_results["test"].per_class[set_name].tolist() == pytest.approx(per_class)
        if set_name == "base":
            for group in ("head", "medium", "tail"):
                members = [per_class[k] for k, g in enumerate(GROUPS) if g == group]
                assert logged[f"test/base/acc_{group}"] == pytest.approx(sum(members) / len(members))
    assert logged["test/base/acc"] == pytest.approx(expected["base"])
    assert logged["test/new/acc"] == pytest.approx(expected["new"])
    assert logged["test/hm"] == pytest.approx(harmonic_mean(expected["base"], expected["new"]))
    assert not any(key.startswith("test/new/acc_") for key in logged)  # groups describe training classes only
