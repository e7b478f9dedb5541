"""The library's own errors reach the terminal once, as their message, with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpt_lightning.cli import console_main
from cpt_lightning.errors import USER_ERROR_EXIT_CODE, library_error_in

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_a_wrong_root_is_one_message_and_exit_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        console_main(["fit", "--config", str(CONFIGS / "dtd_b2n.yaml"), "--data.init_args.root", str(tmp_path / "x")])
    assert exit_info.value.code == USER_ERROR_EXIT_CODE == 2
    err = capsys.readouterr().err
    assert err.count("does not exist or is not a directory") == 1
    assert "Expected this layout under `root`" in err and "split_zhou_DescribableTextures.json" in err
    assert "Traceback" not in err and "Union" not in err


def test_a_missing_clip_directory_is_one_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        console_main(
            ["test", "--config", str(CONFIGS / "demo.yaml"), "--model.clip_name_or_path", str(tmp_path / "no_clip")]
        )
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("no config.json") == 1


def test_errors_raised_outside_the_library_keep_their_traceback():
    try:
        int("not a number")  # raised by Python itself, not by cpt_lightning
    except ValueError as error:
        assert library_error_in(error) is None
    try:
        raise RuntimeError("wrapper") from FileNotFoundError("from this test, not the library")
    except RuntimeError as error:
        assert library_error_in(error) is None
