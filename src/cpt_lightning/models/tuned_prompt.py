"""Share a tuned prompt by folder or HuggingFace Hub id: `TunedPrompt.save_pretrained / from_pretrained / push_to_hub`.

A `TunedPrompt` is what a run learned, without the frozen CLIP: the prompt learner's parameters
and the cluster assignment (`prompt.safetensors`), and a `config.json` that rebuilds the module
(CLIP id, host, templates, class names and groups) and records the run (loss terms and weights,
cluster settings, training data, test metrics) for the generated model card (`README.md`).
Saving, loading and pushing are `huggingface_hub.ModelHubMixin`'s; the hub needs a login
(`hf auth login`) only for `push_to_hub`. From the CLI: `cpt test ... --share.path OUT`
(`cpt_lightning.callbacks.SharePrompt`).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, ModelHubMixin, hf_hub_download
from safetensors.torch import load_file, save_file

from cpt_lightning import __version__
from cpt_lightning.models.cpt_module import CPTModule
from cpt_lightning.models.factory_spec import describe_factory, resolve_factory

PROMPT_FILE = "prompt.safetensors"
PAPER_URL = "https://arxiv.org/abs/2605.11939"
SHARED_PREFIXES = ("prompt_learner.",)  # the trained parameters; loss-term statistics are training state

MODEL_CARD = """---
{{ card_data }}
---

# {{ title }}

A prompt tuned with `cpt_lightning` (CPT: {{ paper_url }})
for a frozen CLIP. The file holds the prompts only; the CLIP is loaded from its own id.

| field | value |
|---|---|
| base CLIP | `{{ base_clip }}` |
| host (prompt learner) | {{ host }} |
| templates | {{ templates }} |
| loss terms (weight) | {{ loss_terms }} |
| cluster settings | {{ clusters }} |
| training data | {{ training_data }} |
| classes | {{ num_classes }}: {{ classnames }} |

## Test metrics

{{ test_metrics }}

## Use

```python
from cpt_lightning.models.tuned_prompt import TunedPrompt

module = TunedPrompt.from_pretrained("{{ repo_or_path }}").to_module()  # a CPTModule, in eval mode
logits = module(pixel_values)  # [B, K] over the classes above
```

cpt_lightning {{ library_version }}.
"""


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def init_parameter_names(cls: type) -> list[str]:
    """The named `__init__` parameters of `cls`, following `**kwargs` into the bases' `__init__` (as
    jsonargparse does), so a subclass that forwards the shared parameters still lists them."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        names += [p.name for p in parameters if p.kind not in variadic and p.name not in names]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            break
    return names


def describe_object(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """`{"class_path", "init_args"}` of an object, from the `__init__` arguments it keeps as same-named attributes."""
    init_args = {}
    for name in init_parameter_names(type(obj)):
        if name in skip:
            continue
        value = getattr(obj, name, None)
        if isinstance(value, tuple):
            value = list(value)
        if value is not None and not isinstance(value, torch.Tensor) and _jsonable(value):
            init_args[name] = value
    return {"class_path": f"{type(obj).__module__}.{type(obj).__qualname__}", "init_args": init_args}


def _describe_data(datamodule: Any) -> dict[str, Any]:
    """`describe_object` of a data module, with its dataset's name (which some keep only as an object)."""
    description = describe_object(datamodule)
    name = getattr(datamodule, "dataset_name", None)
    return {**description, "name": name} if isinstance(name, str) else description


def _table(entries: list[str]) -> str:
    return ", ".join(entries) if entries else "none recorded"


def _describe(spec: dict[str, Any]) -> str:
    """"`Class` (name) key=value, ..." for a `describe_object` result."""
    name = f" ({spec['name']})" if spec.get("name") else ""
    arguments = _table([f"{k}={v}" for k, v in spec["init_args"].items()])
    return f"`{spec['class_path'].rsplit('.', 1)[-1]}`{name} {arguments}"


class TunedPrompt(
    ModelHubMixin,
    library_name="cpt_lightning",
    tags=["clip", "prompt-tuning", "cpt", "neural-collapse", "long-tailed"],
    paper_url=PAPER_URL,
    model_card_template=MODEL_CARD,
):
    """A tuned prompt: `state` (prompt parameters, cluster ids) and `config` (how to rebuild and what the run was).

    Build one from a trained module with `from_module`, rebuild the module with `to_module`.
    """

    def __init__(self, config: dict[str, Any], state: dict[str, torch.Tensor] | None = None) -> None:
        self.config = config
        self.state = state or {}

    # ------------------------------------------------------------------------------ build
    @classmethod
    def from_module(
        cls,
        module: CPTModule,
        datamodule=None,
        clusters=None,
        test_metrics: dict[str, float] | None = None,
    ) -> TunedPrompt:
        """What a trained CPTModule learned, with the run's data module, cluster callback and test metrics."""
        if module.prompt_learner is None:
            raise ValueError("This CPTModule is zero-shot CLIP (no prompt learner): it has no prompt to share.")
        state = {
            name: tensor.detach().cpu().clone().contiguous()
            for name, tensor in module.state_dict().items()
            if name.startswith(SHARED_PREFIXES)
        }
        if module.cluster_ids.numel():
            state["cluster_ids"] = module.cluster_ids.detach().cpu().clone()
        config = {
            "library_version": __version__,
            "clip_name_or_path": module.hparams.clip_name_or_path,
            "prompt_learner": describe_factory(module.hparams.prompt_learner),
            "host": describe_object(module.prompt_learner, skip=("clip", "classnames")),
            "templates": list(module.templates),
            "classnames": list(module.classnames),
            "class_groups": module.class_groups,
            # Loss terms that correct for the imbalance (logit adjustment) are rebuilt with these.
            "class_counts": [int(n) for n in module.class_counts.tolist()] or None,
            "loss_terms": [describe_object(term) for term in module.loss.terms.values()],
            "clusters": describe_object(clusters) if clusters is not None else None,
            "training_data": _describe_data(datamodule) if datamodule is not None else None,
            "test_metrics": {key: float(value) for key, value in (test_metrics or {}).items()},
        }
        return cls(config, state)

    def to_module(self) -> CPTModule:
        """A CPTModule with these prompts and cluster assignment (the frozen CLIP loaded by its id), in eval mode."""
        config = self.config
        module = CPTModule(
            config["classnames"],
            clip_name_or_path=config["clip_name_or_path"],
            prompt_learner=resolve_factory(config["prompt_learner"]),
            loss_terms=[resolve_factory(spec)() for spec in config["loss_terms"]],
            templates=config["templates"],
            class_groups=config["class_groups"],
            class_counts=config.get("class_counts"),
        )
        prompts = {name: tensor for name, tensor in self.state.items() if name.startswith(SHARED_PREFIXES)}
        expected = {name for name, p in module.named_parameters() if p.requires_grad}
        if set(prompts) != expected:
            raise ValueError(
                f"The shared prompt has parameters {sorted(prompts)} but the host it names builds {sorted(expected)}; "
                "it was saved from another prompt learner configuration."
            )
        module.load_state_dict(prompts, strict=False)
        if "cluster_ids" in self.state:
            module.set_cluster_assignment(self.state["cluster_ids"])
        return module.eval()

    # ------------------------------------------------------------------ ModelHubMixin hooks
    def _save_pretrained(self, save_directory: Path) -> None:
        save_file(self.state, str(Path(save_directory) / PROMPT_FILE), metadata={"library": "cpt_lightning"})
        (Path(save_directory) / "config.json").write_text(json.dumps(self.config, indent=2, sort_keys=True))

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TunedPrompt:
        local = Path(model_id)
        if local.is_dir():
            prompt_file = local / PROMPT_FILE
            if not prompt_file.is_file():
                raise FileNotFoundError(f"{local} has no {PROMPT_FILE}; it is not a folder `save_pretrained` wrote.")
        else:
            prompt_file = Path(
                hf_hub_download(
                    model_id,
                    PROMPT_FILE,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    local_files_only=local_files_only,
                    token=token,
                )
            )
        if config is None:
            raise FileNotFoundError(f"{model_id} has no config.json; it is not a prompt `save_pretrained` wrote.")
        return cls(config, load_file(str(prompt_file)))

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The model card: base CLIP, host, loss terms and weights, cluster settings, classes, data, test metrics."""
        config = self.config
        terms = [
            f"`{spec['class_path'].rsplit('.', 1)[-1]}` ({spec['init_args'].get('weight', 1.0)}"
            + "".join(f", {k}={v}" for k, v in spec["init_args"].items() if k != "weight")
            + ")"
            for spec in config["loss_terms"]
        ]
        clusters = config.get("clusters")
        data = config.get("training_data")
        metrics = config.get("test_metrics") or {}
        metric_lines = "\n".join(f"- `{key}`: {value:.4f}" for key, value in sorted(metrics.items()))
        fields = {
            "title": f"CPT prompt for {config['clip_name_or_path']}",
            "base_clip": config["clip_name_or_path"],
            "host": _describe(config["host"]),
            "templates": ", ".join(f"`{t}`" for t in config["templates"]),
            "loss_terms": _table(terms),
            "clusters": _table([f"{k}={v}" for k, v in clusters["init_args"].items()]) if clusters else "none recorded",
            "training_data": _describe(data) if data else "none recorded",
            "num_classes": len(config["classnames"]),
            "classnames": ", ".join(config["classnames"]),
            "test_metrics": metric_lines or "No test metrics were recorded.",
            "repo_or_path": kwargs.pop("repo_or_path", "PATH_OR_HUB_ID"),
            "library_version": config.get("library_version", __version__),
        }
        return super().generate_model_card(*args, **{**fields, **kwargs})
