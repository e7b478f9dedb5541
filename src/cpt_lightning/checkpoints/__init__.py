"""What a run does with checkpoints: reading them with clear errors and old option names, which values win,
which run owns them."""

from cpt_lightning.checkpoints.migration import CheckpointMigrationError
from cpt_lightning.checkpoints.ownership import RunIdentity, RunLockError, RunMismatchError, RunOwnership
from cpt_lightning.checkpoints.precedence import PromptShapeMismatchError, merge_saved_hyper_parameters
from cpt_lightning.checkpoints.reading import CheckpointReadError, read_checkpoint

__all__ = [
    "CheckpointMigrationError",
    "CheckpointReadError",
    "PromptShapeMismatchError",
    "RunIdentity",
    "RunLockError",
    "RunMismatchError",
    "RunOwnership",
    "merge_saved_hyper_parameters",
    "read_checkpoint",
]
