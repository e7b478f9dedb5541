"""`FewShotDataModule`: a `SampledDataModule` over a dataset folder on disk, with its sampled subset cached.

The base of the benchmarks read from a folder (`root`); a subclass describes its layout with
`read_classnames()` and `read_splits()` as for `SampledDataModule` (`data/sampled_datamodule.py`),
which holds the class plan, sampling and loaders and is importable from here as before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cpt_lightning.data.layout import require_path, require_root
from cpt_lightning.data.sampled_datamodule import SampledDataModule
from cpt_lightning.data.subset_cache import cache_file_name, load_cached_subset, save_subset
from cpt_lightning.data.subset_plan import RawSplits, subset_matches_splits

__all__ = ["FewShotDataModule", "SampledDataModule"]

log = logging.getLogger(__name__)


class FewShotDataModule(SampledDataModule):
    """A `SampledDataModule` over a dataset folder `root`, with the sampled subset cached on disk.

    The subset is cached as JSON under `cache_dir` (default `<root>/split_cache`;
    `use_cache=False` disables it) and trusted only while every cached item is still in the
    splits with its label. The other arguments are `SampledDataModule`'s.
    """

    def __init__(self, root: str, cache_dir: str | None = None, use_cache: bool = True, **kwargs: Any) -> None:
        self.root = Path(root).expanduser()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else self.root / "split_cache"
        self.use_cache = use_cache
        super().__init__(**kwargs)

    def check_source(self) -> None:
        require_root(self.root, type(self).__name__, self.expected_layout)

    def require(self, relative: str, what: str) -> Path:
        """`root / relative`, or an error that names it and shows the expected layout."""
        return require_path(self.root / relative, type(self).__name__, self.expected_layout, what)

    def cache_key(self) -> dict[str, Any]:
        """What identifies a sampled subset: dataset, shots, seed, tau, subsample (and the root)."""
        return {
            "dataset": self.dataset_name,
            "shots": self.shots,
            "seed": self.seed,
            "tau": float(self.tau),
            "subsample": self.subsample,
            "root": str(self.root.resolve()),
        }

    def sampled_subset(self, splits: RawSplits) -> dict[str, Any]:
        if not self.use_cache or self.shots is None:
            return super().sampled_subset(splits)
        key = self.cache_key()
        path = self.cache_dir / cache_file_name(key)
        cached = load_cached_subset(path, key)
        if cached is not None:
            if subset_matches_splits(cached, splits, self.plan):
                log.info("Loaded the sampled subset from %s.", path)
                return cached
            log.warning("Ignoring subset cache %s: it lists images or labels the dataset lacks.", path)
        subset = super().sampled_subset(splits)
        save_subset(path, key, subset)
        return subset
