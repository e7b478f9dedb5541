"""What CPTModule needs from the data module it runs with, named once.

Class names and class groups arrive at parse time: the CLI links them from the data module into
`CPTModule.__init__`. The evaluation sets are read from the attached data module in `setup`,
through the one small protocol below; a data module that does not implement it (or a bare
`trainer.fit(module, train_dataloaders=...)`) evaluates on the training classes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from cpt_lightning.metrics.keys import ALL_SET


@runtime_checkable
class EvaluationSets(Protocol):
    """A data module that names its evaluation sets: set name -> class names, one loader each, in order."""

    eval_classnames: dict[str, list[str]]


def evaluation_sets(datamodule: Any, training_classnames: list[str]) -> dict[str, list[str]]:
    """The data module's `eval_classnames`, or one set "all" of the training classes."""
    if isinstance(datamodule, EvaluationSets) and datamodule.eval_classnames:
        return dict(datamodule.eval_classnames)
    return {ALL_SET: list(training_classnames)}
