"""W&B when it can log, else a CSV logger and a one-line notice: no run fails at start for want of an account.

A configured `WandbLogger` is kept when the user is logged in (`wandb login`, `WANDB_API_KEY`) or has
chosen a mode with `WANDB_MODE` (`offline` needs no account). Otherwise it would stop the run at its
first log call (`UsageError: No API key configured`), so `cpt` logs to CSV in the same folder instead
and says where.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

DEFAULT_WANDB_HOST = "https://api.wandb.ai"


def _netrc_path() -> Path:
    return Path(os.environ.get("NETRC", Path.home() / ".netrc")).expanduser()


def wandb_can_log() -> bool:
    """True when W&B has credentials (env, identity token or `wandb login`'s netrc entry) or a chosen mode."""
    if os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_WANDB_HOST)).hostname
    path = _netrc_path()
    if not path.is_file():
        return False
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


def csv_in_place_of(logger: WandbLogger) -> CSVLogger:
    """A CSV logger in the W&B logger's save dir, under its project name (`<save_dir>/<project>/version_N`)."""
    return CSVLogger(save_dir=logger.save_dir or ".", name=logger.name or "lightning_logs")


def without_unusable_wandb(loggers: list[Logger]) -> tuple[list[Logger], str | None]:
    """`loggers` with every W&B logger that cannot log replaced by a CSV logger, and the notice to print."""
    if wandb_can_log() or not any(isinstance(logger, WandbLogger) for logger in loggers):
        return loggers, None
    replaced = [csv_in_place_of(logger) if isinstance(logger, WandbLogger) else logger for logger in loggers]
    folders = ", ".join(str(Path(logger.log_dir)) for logger in replaced if isinstance(logger, CSVLogger))
    notice = (
        f"W&B: not logged in, logging to CSV in {folders} instead (`wandb login`, or WANDB_MODE=offline, to use W&B)."
    )
    return replaced, notice
