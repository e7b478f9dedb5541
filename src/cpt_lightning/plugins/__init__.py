"""Lightning plugins: checkpoint writing that survives a kill."""

from cpt_lightning.plugins.atomic_checkpoint_io import AtomicCheckpointIO

__all__ = ["AtomicCheckpointIO"]
