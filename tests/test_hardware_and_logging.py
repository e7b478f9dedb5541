"""Hardware is a file swap and precision fits the device; a run without a W&B login logs to CSV and says so."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from cpt_lightning import hardware
from cpt_lightning.cli import main
from cpt_lightning.loggers.wandb_fallback import wandb_can_log, without_unusable_wandb

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
HARDWARE_KEYS = {"accelerator", "devices", "strategy", "num_nodes", "precision"}
HARDWARE_FILES = ["cpu", "gpu", "multi_gpu", "multi_node"]


@pytest.fixture
def no_wandb_login(monkeypatch, tmp_path):
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


# ---- precision and the bf16 warning ------------------------------------------------------------


@pytest.mark.parametrize(
    "cuda, bf16, accelerator, expected",
    [
        (False, False, "auto", "32-true"),
        (True, True, "auto", "bf16-mixed"),
        (True, False, "gpu", "16-mixed"),
        (True, True, "cpu", "32-true"),
        (True, True, "mps", "32-true"),
    ],
)
def test_precision_fits_the_device(monkeypatch, cuda, bf16, accelerator, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert hardware.precision_for_device(accelerator) == expected


@pytest.mark.parametrize(
    "flags, native", [("fpu avx2 avx512f", False), ("fpu avx512f avx512_bf16", True), ("fp asimd bf16", True)]
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert hardware.cpu_has_native_bf16(cpuinfo) is native


def test_bf16_on_a_cpu_without_native_bf16_warns_once(monkeypatch, tiny_clip_dir, tmp_path, no_wandb_login):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = _built(tiny_clip_dir, tmp_path, "--trainer.accelerator", "cpu", "--trainer.precision", "bf16-mixed")
    emulated = [w for w in caught if "without native bf16" in str(w.message)]
    assert cli.trainer.precision == "bf16-mixed"  # kept as the user wrote it
    assert len(emulated) == 1


def test_cpu_hardware_file_gives_32_bit_without_a_warning(monkeypatch, tiny_clip_dir, tmp_path, no_wandb_login):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = _built(tiny_clip_dir, tmp_path, "--trainer", str(CONFIGS / "trainer" / "cpu.yaml"))
    assert cli.trainer.precision == "32-true"
    assert not [w for w in caught if "bf16" in str(w.message)]


def _built(tiny_clip_dir, tmp_path, *args):
    """`cpt` on configs/dtd.yaml with generated data, instantiated (trainer, model, data) but not run."""
    data = {"class_path": "cpt_lightning.data.generated.GeneratedDataModule", "init_args": {"classnames": ["a", "b"]}}
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({"data": data, "model": {"clip_name_or_path": str(tiny_clip_dir)}}))
    return main(
        ["--config", str(CONFIGS / "dtd.yaml"), "--config", str(config), "--trainer.default_root_dir", str(tmp_path),
         *args],
        run=False,
    )  # fmt: skip


def test_benchmark_trainer_leaves_precision_to_the_device(monkeypatch, tiny_clip_dir, tmp_path, no_wandb_login):
    monkeypatch.chdir(tmp_path)
    cli = _built(tiny_clip_dir, tmp_path)
    assert cli.trainer.precision == hardware.precision_for_device("auto")


@pytest.mark.parametrize("name", HARDWARE_FILES)
def test_a_hardware_file_swaps_exactly_the_hardware_keys(name):
    from tests.test_configs import _printed_config

    hardware_file = yaml.safe_load((CONFIGS / "trainer" / f"{name}.yaml").read_text())
    assert set(hardware_file) == HARDWARE_KEYS
    benchmark = yaml.safe_load((CONFIGS / "trainer" / "benchmark.yaml").read_text())
    printed = _printed_config("--config", str(CONFIGS / "dtd.yaml"), "--trainer", str(CONFIGS / f"trainer/{name}.yaml"))
    for key in HARDWARE_KEYS:
        assert printed["trainer"][key] == hardware_file[key], key
    for key in ("max_epochs", "log_every_n_steps"):  # the run's own settings stay
        assert printed["trainer"][key] == benchmark[key], key
    assert printed["trainer"]["logger"]["class_path"] == benchmark["logger"]["class_path"]


# ---- logging -----------------------------------------------------------------------------------


def test_wandb_can_log_with_a_key_a_mode_or_a_netrc_login(monkeypatch, tmp_path, no_wandb_login):
    assert not wandb_can_log()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    monkeypatch.setenv("NETRC", str(netrc))
    assert wandb_can_log()
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_can_log()
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_can_log()


def test_without_a_login_wandb_becomes_csv_in_the_same_folder(tmp_path, no_wandb_login):
    wandb = WandbLogger(project="cpt_lightning", save_dir=str(tmp_path))
    (csv,), notice = without_unusable_wandb([wandb])
    assert isinstance(csv, CSVLogger)
    assert Path(csv.log_dir) == tmp_path / "cpt_lightning" / "version_0"
    assert notice.count("\n") == 0 and str(tmp_path / "cpt_lightning" / "version_0") in notice


def test_the_benchmark_trainer_logs_to_csv_without_a_login_and_to_wandb_when_asked(
    monkeypatch, tiny_clip_dir, tmp_path, no_wandb_login, caplog
):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("INFO"):
        cli = _built(tiny_clip_dir, tmp_path)
    assert isinstance(cli.trainer.logger, CSVLogger)
    expected = tmp_path / "outputs" / "cpt_lightning" / "version_0"
    assert Path(cli.trainer.logger.log_dir).resolve() == expected.resolve()
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("W&B: not logged in")]
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert isinstance(_built(tiny_clip_dir, tmp_path).trainer.logger, WandbLogger)
