"""`cpt export`: the README's transformers + safetensors snippet reproduces the library's test logits."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from safetensors.torch import load_file

from cpt_lightning.data.generated import GeneratedDataModule
from cpt_lightning.models import CPTModule
from cpt_lightning.models.export import CONFIG_FILE, TENSORS_FILE, export_classifier, export_main

README = Path(__file__).resolve().parents[1] / "README.md"
CLASSNAMES = ["cat", "dog", "sea lion", "shark"]


def readme_export_snippet() -> str:
    """The Python block between the README's export-snippet markers."""
    match = re.search(
        r"<!-- export-snippet:start -->\s*```python\n(.*?)```\s*<!-- export-snippet:end -->", README.read_text(), re.S
    )
    assert match, "README.md lost its export snippet markers"
    return match.group(1)


def _tuned_module(tiny_clip_dir) -> CPTModule:
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir))
    with torch.no_grad():  # prompts unlike their initialisation, as after training
        for parameter in module.prompt_learner.parameters():
            parameter.add_(torch.randn_like(parameter, generator=torch.Generator().manual_seed(1)) * 0.1)
    return module.eval()


def test_the_readme_snippet_reproduces_the_test_logits(tiny_clip_dir, tmp_path, monkeypatch):
    module = _tuned_module(tiny_clip_dir)
    data = GeneratedDataModule(CLASSNAMES, eval_per_class=3, batch_size=12)
    data.setup("test")
    pixel_values, _ = next(iter(data.test_dataloader()))
    with torch.no_grad():
        expected = module.logits(module.encode_images(pixel_values), module.prompted_text_features())

    checkpoint = tmp_path / "tuned.ckpt"
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(checkpoint)
    monkeypatch.chdir(tmp_path)
    assert export_main([str(checkpoint), "exported"]) == 0

    namespace: dict = {}
    exec(compile(readme_export_snippet(), "README export snippet", "exec"), namespace)
    logits = namespace["classify"](pixel_values)
    assert namespace["meta"]["classnames"] == CLASSNAMES
    assert logits.shape == expected.shape
    assert torch.allclose(logits, expected, atol=1e-5, rtol=0)


def test_the_export_holds_normalised_prototypes_and_the_image_settings(tiny_clip_dir, tmp_path):
    module = _tuned_module(tiny_clip_dir)
    out = export_classifier(module, tmp_path / "out", classnames=["tiger", "owl"])
    tensors = load_file(str(out / TENSORS_FILE))
    meta = json.loads((out / CONFIG_FILE).read_text())
    assert meta["classnames"] == ["tiger", "owl"] and meta["clip"] == str(tiny_clip_dir)
    assert tensors["text_prototypes"].shape == (2, module.clip.config.projection_dim)
    assert torch.allclose(tensors["text_prototypes"].norm(dim=-1), torch.ones(2), atol=1e-6)
    assert float(tensors["logit_scale"]) == pytest.approx(module.clip.model.logit_scale.exp().item())
    assert meta["image_settings"]["crop_size"] == module.image_settings.crop_size


def test_a_host_that_prompts_images_is_refused(tiny_clip_dir, tmp_path):
    from cpt_lightning.models import IVLPPromptLearner

    host = functools.partial(IVLPPromptLearner, prompt_depth_text=1, prompt_depth_vision=1)
    module = CPTModule(CLASSNAMES, clip_name_or_path=str(tiny_clip_dir), prompt_learner=host)
    with pytest.raises(ValueError, match="image encoder"):
        export_classifier(module, tmp_path / "out")
    assert not (tmp_path / "out").exists()
