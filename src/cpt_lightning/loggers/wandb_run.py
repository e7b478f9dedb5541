"""`WandbRunLogger`: Lightning's `WandbLogger` with checkpoints as artifacts, and `cpt test` into the fit's run.

`WandbDashboard` stores the W&B run of a fit in each checkpoint it writes (`WANDB_RUN_KEY`). Given
that checkpoint as `fit_checkpoint`, this logger opens the same run (same id, `resume="allow"`),
so a later `cpt test` puts its metrics, table and Gram heat map beside the fit's curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.loggers import WandbLogger

from cpt_lightning.extras import require_extra

WANDB_RUN_KEY = "cpt_wandb_run"  # checkpoint key: {"id", "project", "entity"} of the fit's W&B run


def wandb_run_of_checkpoint(checkpoint: str | Path) -> dict[str, Any]:
    """The W&B run (`id`, `project`, `entity`) that wrote a checkpoint, or an error saying why there is none."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    run = state.get(WANDB_RUN_KEY)
    if not run:
        raise ValueError(
            f"Checkpoint {checkpoint} records no W&B run: its fit did not log to W&B (or predates this key). "
            "Drop `fit_checkpoint`, or give the run's id with `--trainer.logger.init_args.id`."
        )
    return dict(run)


class WandbRunLogger(WandbLogger):
    """`WandbLogger` that logs checkpoints as artifacts by default and can continue a fit's run.

    Args:
        fit_checkpoint: a checkpoint of a fit that logged to W&B; this logger then writes into that
            run (its id and project), e.g. `cpt test --ckpt_path X --trainer.logger.init_args.fit_checkpoint X`.
        log_model: as for `WandbLogger`; default (None) True unless `offline=True`: the last and best
            checkpoints become artifacts at the end of a fit (kilobytes each: they hold prompts, not CLIP).
        The rest as for `lightning.pytorch.loggers.WandbLogger`.
    """

    def __init__(
        self,
        name: str | None = None,
        save_dir: str = ".",
        version: str | None = None,
        offline: bool = False,
        id: str | None = None,
        project: str | None = None,
        log_model: Literal["all"] | bool | None = None,
        prefix: str = "",
        fit_checkpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        require_extra("wandb", "Logging to Weights & Biases")
        if fit_checkpoint is not None:
            if id is not None or version is not None:
                raise ValueError(
                    f"Give either `fit_checkpoint` or `id` / `version`, not both: fit_checkpoint={fit_checkpoint!r} "
                    f"names its own run; got id={id!r}, version={version!r}."
                )
            run = wandb_run_of_checkpoint(fit_checkpoint)
            id = run["id"]
            project = project or run.get("project")
            if run.get("entity") and "entity" not in kwargs:
                kwargs["entity"] = run["entity"]
        self.fit_checkpoint = fit_checkpoint
        super().__init__(
            name=name,
            save_dir=save_dir,
            version=version,
            offline=offline,
            id=id,
            project=project,
            # `offline=True` cannot upload artifacts (Lightning refuses the pair); WANDB_MODE=offline stores them.
            log_model=(not offline) if log_model is None else log_model,
            prefix=prefix,
            **kwargs,
        )
