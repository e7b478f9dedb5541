"""`cpt`'s progress bar ends at the step the fit reached, also when `max_steps` stops it mid-epoch."""

from __future__ import annotations

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

from cpt_lightning.cli import PROGRESS_BAR_REFRESH_RATE, default_progress_bar


@pytest.mark.parametrize(
    ("max_steps", "expected"),
    [
        (13, 13),  # stopped mid-epoch at a step that is no multiple of the refresh rate
        (20, 20),  # stopped mid-epoch at a multiple
        (-1, 64),  # the whole epoch: BoringModel's 64 batches
    ],
)
def test_the_bar_ends_at_the_last_step(tmp_path, max_steps, expected):
    assert PROGRESS_BAR_REFRESH_RATE == 10  # the cases above are chosen around it
    bar = default_progress_bar()
    trainer = Trainer(
        default_root_dir=tmp_path, accelerator="cpu", max_epochs=1, max_steps=max_steps, callbacks=[bar],
        logger=False, enable_checkpointing=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(BoringModel())
    assert trainer.global_step == expected  # the fit stopped where the case says
    assert bar.train_progress_bar.n == expected
