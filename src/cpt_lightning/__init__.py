"""cpt_lightning: cluster-aware neural-collapse prompt tuning of a frozen CLIP, on Lightning."""

__version__ = "0.1.0"
