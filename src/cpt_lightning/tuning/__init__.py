"""`cpt-tune`: every method's own knobs tuned alike, on validation splits only (Optuna TPE + pruning)."""

from cpt_lightning.tuning.search_space import ParamSpec, SearchSpace, load_search_space
from cpt_lightning.tuning.tuner import TuningSetup, tune_method

__all__ = ["ParamSpec", "SearchSpace", "TuningSetup", "load_search_space", "tune_method"]
