"""`--trainer.limit_train_batches 1` is one batch, whatever the process imported before the CLI parsed it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing

from cpt_lightning.trainer_options import _int_first
from tests.conftest import REPO_ROOT

# A fresh interpreter: typing's union cache is per process, and this one has imported everything.
PROBE = textwrap.dedent(
    """
    import sklearn.cluster  # builds Optional[Union[float, int]] before Lightning's Trainer is defined
    from cpt_lightning.cli import main

    cli = main(["--config", "configs/demo.yaml", "--trainer.limit_train_batches", "1",
                "--trainer.limit_val_batches", "0.5", "--trainer.logger", "false"], run=False)
    for value in (cli.trainer.limit_train_batches, cli.trainer.limit_val_batches):
        print(type(value).__name__, value)
    """
)


def test_an_integer_limit_is_a_batch_count_after_scikit_learn_was_imported():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO_ROOT, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Lightning reads an int as a number of batches and a float as a fraction of the epoch.
    assert done.stdout.split()[-4:] == ["int", "1", "float", "0.5"]


def test_only_int_or_float_unions_are_respelled():
    # typing-module unions on purpose: they are what Lightning's signature holds.
    assert _int_first(typing.Optional[typing.Union[float, int]]) == (int | float | None)  # noqa: UP007, UP045
    assert typing.get_args(_int_first(typing.Union[float, int])) == (int, float)  # noqa: UP007
    assert _int_first(typing.Optional[int]) is None  # noqa: UP045
    assert _int_first(typing.Union[int, float, str]) is None  # noqa: UP007
    assert _int_first(float) is None
