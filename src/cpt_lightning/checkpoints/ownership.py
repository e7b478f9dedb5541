"""A run owns its checkpoints: its identity is recorded in each one, and a lock keeps its directory its own.

The identity is a hash of what decides what is trained -- the `model` and `data` configs and
`seed_everything` -- leaving out paths (a moved CLIP or dataset is the same run), worker counts
and evaluation batch sizes; the trainer section is left out so that a resumed fit may run longer
or on other devices. `--ckpt_path last` resumes only a checkpoint with this run's identity (or
the identity the same config had before an option was renamed, `checkpoints/migration.py`); an
explicit checkpoint path is the user's choice and is loaded as given.

While a fit runs, global rank 0 holds `<directory>.cpt-run.lock` (run, host, pid) beside every
`ModelCheckpoint` directory; a second fit into the same directory stops at its start instead
of racing for `last.ckpt`. The lock lies beside the directory, not in it: Lightning warns about a
checkpoint directory that is not empty, and a fresh fit's own lock must not set that off. A
directory given as `dirpath` is locked in `setup`, before anything (the CLI's config.yaml) is
written; one that Lightning derives from the logger is known, and locked, only at fit start. A
lock whose process is gone (a killed job, on the same host) is taken over with a warning; one held
from another host is only released by its run or by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from cpt_lightning.checkpoints.migration import with_old_names

RUN_KEY = "cpt_run"
LOCK_SUFFIX = ".cpt-run.lock"
# Keys that do not change what a run trains: where files live and how fast they are read.
NOT_IDENTITY = {
    "model": ("clip_name_or_path",),
    "data": ("root", "cache_dir", "use_cache", "num_workers", "eval_batch_size"),
}


class RunMismatchError(ValueError):
    """`--ckpt_path last` found a checkpoint written by another run."""


class RunLockError(OSError):
    """Another fit is writing checkpoints into this run's checkpoint directory."""


@dataclass(frozen=True)
class RunIdentity:
    """`run`: hash of the run's model/data config and seed; `seed`: `seed_everything`; `data_seed`."""

    run: str
    seed: int | None
    data_seed: int | None

    @classmethod
    def from_config(cls, config: dict[str, Any], linked: Collection[str] = ()) -> RunIdentity:
        """The identity of a parsed run config (`seed_everything`, `model`, `data` as plain dicts);
        `linked`: model arguments filled from the data module (its config already counts)."""
        left_out = (*NOT_IDENTITY["model"], *linked)
        model = {k: v for k, v in (config.get("model") or {}).items() if k not in left_out}
        data = dict(config.get("data") or {})
        if isinstance(data.get("init_args"), dict):
            data["init_args"] = {k: v for k, v in data["init_args"].items() if k not in NOT_IDENTITY["data"]}
        seed = config.get("seed_everything")
        defining = {"seed_everything": seed, "model": model, "data": data}
        digest = hashlib.sha256(json.dumps(defining, sort_keys=True, default=str).encode()).hexdigest()[:12]
        data_seed = (data.get("init_args") or {}).get("seed") if isinstance(data.get("init_args"), dict) else None
        return cls(run=digest, seed=seed if isinstance(seed, int) else None, data_seed=data_seed)

    @classmethod
    def before_renames(cls, config: dict[str, Any], linked: Collection[str] = ()) -> RunIdentity | None:
        """The identity the same run config had before options were renamed (None if no rename applies)."""
        old_model = with_old_names(config.get("model") or {})
        return None if old_model is None else cls.from_config({**config, "model": old_model}, linked)

    def describe(self) -> str:
        return f"run {self.run} (seed_everything={self.seed}, data seed={self.data_seed})"


def describe_recorded(recorded: Any) -> str:
    if not isinstance(recorded, dict) or "run" not in recorded:
        return "no recorded run (written before cpt recorded run identities, or by another program)"
    return RunIdentity(**{k: recorded.get(k) for k in ("run", "seed", "data_seed")}).describe()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """`<directory>.cpt-run.lock` beside one checkpoint directory, created atomically (`O_EXCL`) and removed on
    release."""

    def __init__(self, directory: str | Path, identity: RunIdentity) -> None:
        self.directory = Path(directory).resolve()
        self.path = self.directory.with_name(self.directory.name + LOCK_SUFFIX)
        self.identity = identity
        self.held = False

    def _holder(self) -> dict[str, Any]:
        try:
            holder = json.loads(self.path.read_text())
            return holder if isinstance(holder, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; raise `RunLockError` naming the holder otherwise."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {**asdict(self.identity), "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        for _ in range(2):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder.get("host") == record["host"] and not _process_alive(int(holder.get("pid", -1))):
                    rank_zero_warn(
                        f"Taking over {self.path}: its {describe_recorded(holder)} (pid {holder.get('pid')}) "
                        "is no longer running."
                    )
                    self.path.unlink(missing_ok=True)
                    continue
                raise RunLockError(
                    f"Checkpoint directory {self.directory} is in use by {describe_recorded(holder)}, pid "
                    f"{holder.get('pid')} on {holder.get('host')}. Two fits writing into one directory would "
                    "overwrite each other's last.ckpt. Give this run its own `trainer.default_root_dir` (or "
                    "ModelCheckpoint `dirpath`), or wait for that run to end. If it is no longer running, "
                    f"delete {self.path}."
                ) from None
            with os.fdopen(descriptor, "w") as stream:
                json.dump(record, stream)
            self.held = True
            return

    def release(self) -> None:
        if self.held and self._holder().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False


class RunOwnership(pl.Callback):
    """Records the run identity in every checkpoint; guards `--ckpt_path last` and the checkpoint directories.

    Args:
        identity: this run's identity (`RunIdentity.from_config` of the parsed config).
        resumes_last: the fit was asked to resume from `last` (only then must the checkpoint be this run's).
        identity_before_renames: the identity its config had before options were renamed
            (`RunIdentity.before_renames`), which checkpoints written then record.
    """

    def __init__(
        self, identity: RunIdentity, resumes_last: bool = False, identity_before_renames: RunIdentity | None = None
    ) -> None:
        self.identity = identity
        self.resumes_last = resumes_last
        self.identity_before_renames = identity_before_renames
        self._locks: list[RunLock] = []

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint[RUN_KEY] = asdict(self.identity)

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        if not (self.resumes_last and trainer.state.fn == TrainerFn.FITTING):
            return
        recorded = checkpoint.get(RUN_KEY)
        if isinstance(recorded, dict) and recorded.get("run") == self.identity.run:
            return
        earlier = self.identity_before_renames
        if isinstance(recorded, dict) and earlier is not None and recorded.get("run") == earlier.run:
            rank_zero_info(
                f"--ckpt_path last picked {trainer.ckpt_path}, written by this run before options were renamed "
                f"(recorded as {earlier.describe()}); resuming it as {self.identity.describe()}."
            )
            return
        raise RunMismatchError(
            f"--ckpt_path last picked {trainer.ckpt_path}, which belongs to {describe_recorded(recorded)}; this "
            f"fit is {self.identity.describe()}. Resuming it would continue another run's training. Give this "
            "run its own `trainer.default_root_dir`, or pass that checkpoint's path to --ckpt_path to start "
            "from it on purpose."
        )

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._lock_checkpoint_directories(trainer)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._lock_checkpoint_directories(trainer)  # the directories Lightning resolved since `setup`

    def _lock_checkpoint_directories(self, trainer: pl.Trainer) -> None:
        problem = None
        if trainer.is_global_zero:
            directories = {cb.dirpath for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)}
            held = {lock.directory for lock in self._locks}
            try:
                for directory in sorted(d for d in directories if d and "://" not in str(d)):
                    if Path(directory).resolve() in held:
                        continue
                    lock = RunLock(directory, self.identity)
                    lock.acquire()
                    self._locks.append(lock)
            except RunLockError as error:
                self._release()
                problem = str(error)
        # Every rank stops together, rather than the others waiting at the next collective.
        problem = trainer.strategy.broadcast(problem, src=0)
        if problem is not None:
            raise RunLockError(problem)

    def _release(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks = []

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._release()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._release()
