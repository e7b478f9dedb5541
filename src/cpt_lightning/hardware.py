"""The precision a run gets when its config names none, and the warning for bf16 on a CPU that emulates it.

Benchmark configs leave `trainer.precision` unset (null) so that one file runs on whatever machine
it lands on: bf16-mixed on a CUDA GPU that supports bf16, 16-mixed on an older CUDA GPU (V100, T4),
32-true elsewhere (CPU, Apple MPS). A precision the user writes is always kept as written.
"""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

import torch

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 /proc/cpuinfo flags of native bf16 arithmetic


def _uses_cuda(accelerator: object) -> bool:
    if not torch.cuda.is_available():
        return False
    return accelerator is None or str(accelerator) in ("auto", "gpu", "cuda")


def precision_for_device(accelerator: object) -> str:
    """The precision that fits the device `accelerator` (a Trainer `accelerator` value) resolves to."""
    if _uses_cuda(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 / AMX on x86, the BF16 extension on Arm).

    Without it, bf16 on the CPU is emulated and several times slower than fp32.
    """
    if cpuinfo.is_file():
        words = set(cpuinfo.read_text(errors="ignore").split())
        return any(flag in words for flag in CPU_BF16_FLAGS) or "bf16" in words  # "bf16": aarch64 Features
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def warn_if_emulated_bf16(on_cpu: bool, precision: str) -> None:
    """Warn (once, when the trainer is built) that bf16 on this CPU is emulated and slow."""
    if on_cpu and str(precision).startswith("bf16") and not cpu_has_native_bf16():
        warnings.warn(
            f"precision={precision} on a CPU without native bf16 (no AVX512-BF16 / AMX): every step is "
            "emulated and runs several times slower than in fp32. Use --trainer.precision 32-true on this "
            "machine (or --trainer configs/trainer/cpu.yaml).",
            UserWarning,
            stacklevel=2,
        )
