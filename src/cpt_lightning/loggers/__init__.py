"""Loggers: W&B with checkpoints as artifacts, able to continue the run that wrote a checkpoint."""

from cpt_lightning.loggers.wandb_run import WANDB_RUN_KEY, WandbRunLogger, wandb_run_of_checkpoint

__all__ = ["WANDB_RUN_KEY", "WandbRunLogger", "wandb_run_of_checkpoint"]
