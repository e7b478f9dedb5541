"""Trainer options that take an int (a count) or a float (a fraction) parse an integer as an int.

`limit_train_batches`, `val_check_interval` and the like are `Optional[Union[int, float]]` in
Lightning's signature: an int counts batches, a float is a fraction of the epoch. jsonargparse tries
a union's members in their order, and `typing` caches unions by set equality, so a process that has
already built `Optional[Union[float, int]]` (importing scikit-learn's clustering does) hands Lightning
that float-first object: `--trainer.limit_train_batches 1` then parses as 1.0, all batches instead of
one. The CLI respells these annotations int-first as `int | float` unions, which `typing` does not cache.
"""

from __future__ import annotations

import inspect
import types
import typing

import lightning.pytorch as pl

NONE = type(None)


def _int_first(annotation: object) -> object | None:
    """`int | float` (`| None`) for a union of exactly int and float (and None), else None."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    members = set(typing.get_args(annotation))
    if members - {NONE} != {int, float}:
        return None
    return int | float | None if NONE in members else int | float


def keep_integer_counts_integers(trainer_class: type = pl.Trainer) -> list[str]:
    """Respell the trainer's int-or-float annotations int-first; returns the option names changed."""
    init = inspect.unwrap(trainer_class.__init__)
    changed = []
    for name, annotation in init.__annotations__.items():
        respelled = _int_first(annotation)
        if respelled is not None and typing.get_args(annotation)[0] is not int:
            init.__annotations__[name] = respelled
            changed.append(name)
    return changed
