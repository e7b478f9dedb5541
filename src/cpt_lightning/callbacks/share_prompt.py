"""`cpt test ... --share.path OUT`: after testing a checkpoint, save its tuned prompt with a model card."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from cpt_lightning.callbacks.cluster_assignment import ClusterAssignmentCallback
from cpt_lightning.models.tuned_prompt import TunedPrompt


class SharePrompt(Callback):
    """Save the tested prompt (`TunedPrompt.save_pretrained`) to `path`, and push it to `push_to_hub` if given.

    The model card gets the run's data module, its cluster settings and the test metrics just
    logged. The CLI always adds it (the `share:` section); without `path` it does nothing.

    Args:
        path: output folder (prompt.safetensors, config.json, README.md).
        push_to_hub: a hub repository id (`user/name`) to push to as well (needs `hf auth login`).
    """

    def __init__(self, path: str | None = None, push_to_hub: str | None = None) -> None:
        if push_to_hub is not None and path is None:
            raise ValueError(f"share.push_to_hub={push_to_hub!r} needs share.path, the folder saved before pushing.")
        self.path = path
        self.push_to_hub = push_to_hub
        self.saved: Path | None = None

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.path is None:
            return
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("test/")}
        clusters = next((c for c in trainer.callbacks if isinstance(c, ClusterAssignmentCallback)), None)
        prompt = TunedPrompt.from_module(pl_module, trainer.datamodule, clusters, metrics)
        card = {"repo_or_path": self.push_to_hub or self.path}
        prompt.save_pretrained(
            self.path, model_card_kwargs=card, push_to_hub=self.push_to_hub is not None, repo_id=self.push_to_hub
        )
        self.saved = Path(self.path)
