"""The run loader's inputs: reading a CSVLogger file back, and errors a user can act on."""

import pytest

from cpt_lightning.analysis import load_checkpoint_run, read_logged_metrics

# As Lightning's CSVLogger writes it: one column per key, an epoch's values spread over several rows.
METRICS_CSV = """epoch,step,train/loss,val/acc,val/nc1
0,4,3.0,,
0,5,,0.25,4.5
0,5,2.0,,
1,9,1.5,,
1,11,,0.5,
1,11,,,3.25
"""


def test_read_logged_metrics_merges_an_epochs_rows_and_defaults_to_the_last(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(METRICS_CSV)
    assert read_logged_metrics(path) == {"val/acc": 0.5, "val/nc1": 3.25}
    assert read_logged_metrics(path, epoch=0) == {"val/acc": 0.25, "val/nc1": 4.5}
    assert read_logged_metrics(path, stage="test") == {}


def test_loader_names_the_missing_file_and_the_config_it_needs(tmp_path):
    with pytest.raises(FileNotFoundError, match="Checkpoint .*missing.ckpt does not exist"):
        load_checkpoint_run(tmp_path / "missing.ckpt", tmp_path / "config.yaml")
    checkpoint = tmp_path / "last.ckpt"
    checkpoint.write_bytes(b"")
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  clip_name_or_path: builtin:world_clip\n")
    with pytest.raises(ValueError, match="no `data:` section"):
        load_checkpoint_run(checkpoint, config)
