"""Every shell command in README.md, docs/*.md and the header comments of configs/**/*.yaml runs.

The commands are extracted, not listed here: a line of a ```bash / ```sh / ```shell block (backslash
continuations joined) or a config header comment line indented under `#` (`#   cpt fit ...`) that
starts with a program (the package's console scripts, python, make, pip, ...). Lines that start with
`--` are flag fragments, and an unlabelled ``` block is a template (`<your-benchmark>`), not a command.

Each command runs in a sandbox copy of the repository layout (configs/ etc. linked, `../shared`
beside it), on the CPU, without W&B credentials, at tiny size: a small random CLIP written by
`cpt_lightning.testing` for `--model.clip_name_or_path`, a miniature of the data module's layout
(tests/data/miniatures.py) for its data paths, a tiny checkpoint for `--ckpt_path`, and
the smoke sizes of `cpt_lightning.testing.smoke` (one training step, one evaluation batch, one image
per class in a rendered world's pools). `cpt`, `cpt-reproduce` and the Python scripts run in-process (a
subprocess costs seconds of imports each).

A command that needs what this machine lacks carries a trailing marker, which the docs explain
(README "Offline set-up"): `# needs: gpu`, `# needs: network`, or `# needs: time` (long at full size).
Commands marked gpu or network are not run, and commands that evidently need a GPU or the network must
carry the marker: that is checked too. A `time` command runs at tiny size, as every other one:
`cpt-reproduce` lists its whole grid (`--dry-run`: every config resolves), then runs one run of it
(first dataset, setting and seed, a trained method) at smoke size; a benchmark script runs with its
`--smoke` flag; `cpt-tune` runs one trial per method at smoke size; whatever a command writes goes under
the test's tmp_path, never into the repository.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import re
import runpy
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpt_lightning.reproduce.protocols import load_protocol
from cpt_lightning.reproduce.runs import RESULTS_FILE, plan_runs
from cpt_lightning.testing.smoke import (
    SMOKE_VALIDATED_FIT,
    accepts,
    data_class_of,
    smoke_overrides,
    smoke_overrides_for_runs,
)
from tests.conftest import REPO_ROOT, shared_path
from tests.data.miniatures import write_miniature

pytestmark = pytest.mark.slow


def _console_scripts() -> dict[str, str]:
    """The package's console scripts (`[project.scripts]` of pyproject.toml): name -> `module:function`."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.:]+)"', section, flags=re.M))


SCRIPTS = _console_scripts()
PROGRAMS = (*SCRIPTS, "python", "make", "pip", "hf", "huggingface-cli", "torchrun", "srun", "jupyter")
MARKER = re.compile(r"#\s*needs:\s*([a-z, ]+)\s*$")
KNOWN_NEEDS = {"gpu", "network", "time"}
NOT_HERE = {"gpu", "network"}  # what this machine lacks: such commands are not run
# What a command that needs a GPU or the network looks like; such a command must say so.
EVIDENT_NEEDS = {
    "gpu": re.compile(r"multi_gpu\.yaml|multi_node\.yaml|^(torchrun|srun)\b|accelerator[ =]gpu"),
    "network": re.compile(r"^(pip|make|hf|huggingface-cli|jupyter)\b"),
}
# A module that writes its outputs beside its input (which may be in the repository): its output option.
OUTPUT_OPTION = {"cpt_lightning.tuning.leave_one_out": "--out"}
# A documented path that stands for another checkout of the project (docs/performance.md's "before"):
# the sandbox, a checkout of this one, stands in for it.
OTHER_CHECKOUT = "/tmp/perf_before"


def _flags(overrides: dict) -> list[str]:
    """`{dotted key: value}` as `cpt` flags (`--trainer.max_steps 1`)."""
    return [word for key, value in overrides.items() for word in (f"--{key}", json.dumps(value))]


TINY_TRAINER = _flags(smoke_overrides())


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    text: str  # the command, continuations joined, marker removed
    needs: frozenset[str]

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


def _is_command(line: str) -> bool:
    words = line.split()
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):  # environment assignments
        words = words[1:]
    return bool(words) and words[0] in PROGRAMS


def _command(source: str, line: str) -> Command:
    match = MARKER.search(line)
    needs = frozenset(n.strip() for n in match.group(1).split(",")) if match else frozenset()
    text = MARKER.sub("", line).strip()
    return Command(source, text, needs)


def _markdown_commands(path: Path) -> list[Command]:
    commands, in_shell, pending, start = [], False, "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            in_shell = not in_shell and stripped[3:].strip() in ("bash", "sh", "shell", "console")
            continue
        if not in_shell:
            continue
        if pending:
            pending += " " + stripped
        elif _is_command(stripped):
            pending, start = stripped, number
        if pending and pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        if pending:
            commands.append(_command(f"{path.relative_to(REPO_ROOT)}:{start}", pending))
            pending = ""
    return commands


def _config_header_commands(path: Path) -> list[Command]:
    commands = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.startswith("#"):
            break  # the header ends at the first line that is not a comment
        body = raw[1:]
        if body.startswith("  ") and _is_command(body.strip()):
            commands.append(_command(f"{path.relative_to(REPO_ROOT)}:{number}", body.strip()))
    return commands


def documented_commands() -> list[Command]:
    commands = _markdown_commands(REPO_ROOT / "README.md")
    for path in sorted((REPO_ROOT / "docs").glob("*.md")):
        commands += _markdown_commands(path)
    for path in sorted((REPO_ROOT / "configs").rglob("*.yaml")):
        commands += _config_header_commands(path)
    return commands


COMMANDS = documented_commands()


def test_commands_are_found_where_they_are_documented():
    sources = {command.source.split(":")[0] for command in COMMANDS}
    assert {"README.md", "docs/evaluation.md", "configs/dtd_b2n.yaml", "configs/demo.yaml"} <= sources


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_command_that_needs_a_gpu_or_the_network_says_so(command):
    assert command.needs <= KNOWN_NEEDS, f"unknown marker in {command}; use one of {sorted(KNOWN_NEEDS)}"
    program_part = command.text.split(" ", 1)[0] if "=" not in command.text.split(" ", 1)[0] else command.text
    for need, pattern in EVIDENT_NEEDS.items():
        if pattern.search(command.text) or pattern.search(program_part):
            assert need in command.needs, f"{command} needs {need}: end it with `# needs: {need}`"


# ---- running them ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, clip_tokenizer):
    """A repository-shaped folder: configs/, benchmarks/, notebooks/ linked, ../shared beside it, a tiny CLIP
    (12 layers, so IVLP's default prompt depth fits) and a tiny checkpoint of the default prompt learner."""
    from cpt_lightning.cli import main
    from cpt_lightning.models.frozen_clip import FrozenClip
    from cpt_lightning.testing import save_random_clip, tiny_clip_config

    base = tmp_path_factory.mktemp("docs")
    repo = base / "repo"
    repo.mkdir()
    for name in ("configs", "benchmarks", "notebooks", "src"):
        (repo / name).symlink_to(REPO_ROOT / name)
    (base / "shared").symlink_to(shared_path())
    clip = save_random_clip(base / "clip", clip_tokenizer, config=tiny_clip_config(clip_tokenizer, num_layers=12))
    data_args = write_miniature("DTDDataModule", base / "data" / "checkpoint_source")
    csv_logger = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(base / "ckpt")}}
    fit = main(
        ["fit", "--config", str(REPO_ROOT / "configs" / "dtd.yaml"), *data_args, "--model.clip_name_or_path", str(clip),
         "--data.init_args.num_workers", "0", f"--trainer.logger={json.dumps(csv_logger)}", *TINY_TRAINER]
    )  # fmt: skip
    checkpoint = fit.trainer.checkpoint_callback.last_model_path
    # Every command loads this CLIP: read it from disk once, hand each run a copy of the weights.
    loaded = FrozenClip.from_pretrained(str(clip))
    return {
        "base": base, "repo": repo, "clip": str(clip), "checkpoint": checkpoint, "miniatures": {},
        "loaded_clip": loaded,
    }  # fmt: skip


def _join_placeholders(words: list[str]) -> list[str]:
    """A `<placeholder with spaces>` (`<run id>`) as one word, as the reader takes it."""
    joined: list[str] = []
    for word in words:
        if joined and joined[-1].count("<") > joined[-1].count(">"):
            joined[-1] += " " + word
        else:
            joined.append(word)
    return joined


# A placeholder that stands for any one of several files: a representative one stands in for it.
PLACEHOLDER_EXAMPLES = {"<benchmark>": "dtd_b2n"}


def _fill_placeholders(word: str) -> str:
    for placeholder, example in PLACEHOLDER_EXAMPLES.items():
        word = word.replace(placeholder, example)
    return word


def _cpt_args(args: list[str], sandbox: dict, cwd: Path) -> list[str]:
    """The command's arguments with tiny substitutes for its CLIP, data paths and checkpoint."""
    data_class = data_class_of(args, cwd)
    out, skip = [], False
    for flag, value in zip(args, [*args[1:], None], strict=True):
        if skip:
            skip = False
            continue
        if flag in ("--data.init_args.root", "--data.init_args.data_dir", "--data.root"):
            skip = True  # replaced by the miniature below
            continue
        checkpoint_flag = flag == "--ckpt_path" or flag.endswith(("checkpoint", "fit_checkpoint"))
        if (checkpoint_flag and value != "last") or (value or "").endswith(".ckpt"):
            out += [flag, sandbox["checkpoint"]]
            skip = True
            continue
        out.append(flag)
    if out[0] not in ("fit", "validate", "test", "predict"):
        return out
    if data_class is not None and data_class.startswith("cpt_lightning.data.") and "world" not in data_class:
        name = data_class.rsplit(".", 1)[1]
        if name not in sandbox["miniatures"]:  # written once, shared by the commands that read it
            sandbox["miniatures"][name] = write_miniature(name, sandbox["base"] / "data" / name)
        out += sandbox["miniatures"][name]
    if data_class is not None and accepts(data_class, "num_workers"):
        out += ["--data.init_args.num_workers", "0"]
    return [*out, "--model.clip_name_or_path", sandbox["clip"], *_flags(smoke_overrides(data_class))]


def _run_python(args: list[str]) -> int:
    """`python -m module ...` or `python script.py ...` in this process, as `__main__`."""
    argv = sys.argv
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(args)
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as done:
        return 0 if done.code in (0, None) else int(done.code) if isinstance(done.code, int) else 1
    finally:
        sys.argv = argv
    return 0


def _load_clip_once(monkeypatch, sandbox: dict) -> None:
    """`FrozenClip.from_pretrained(<the sandbox CLIP>)` returns a fresh copy of it without reading the disk."""
    from cpt_lightning.models.frozen_clip import FrozenClip

    loaded, original = sandbox["loaded_clip"], FrozenClip.from_pretrained

    def from_pretrained(name_or_path: str, *args, **kwargs) -> FrozenClip:
        if name_or_path != sandbox["clip"]:
            return original(name_or_path, *args, **kwargs)
        return FrozenClip(copy.deepcopy(loaded.model), loaded.tokenizer, loaded.image_settings)

    monkeypatch.setattr(FrozenClip, "from_pretrained", staticmethod(from_pretrained))


def _run_console_script(entry: str, program: str, args: list[str]) -> int:
    """Another console script of the package, in this process, as its entry point sees a command line."""
    module, function = entry.split(":")
    argv = sys.argv
    sys.argv = [program, *args]
    try:
        return _exit_code(getattr(importlib.import_module(module), function))
    finally:
        sys.argv = argv


def _with_option(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option`'s value replaced by `value` (added when absent)."""
    out, skip = [], False
    for word in args:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            out.append(word)
    return [*out, option, value]


def _run_reproduce(reproduce_main, args: list[str], out: Path) -> int:
    """`cpt-reproduce ARGS` with `--out` under the test's folder. A command that would run its protocol lists the
    whole grid with `--dry-run` (every config resolves), then runs one run of it at smoke size (the first dataset,
    setting and seed of its selection, its first trained method), which must write its results."""
    from cpt_lightning.reproduce.cli import build_parser

    parsed = build_parser().parse_args(args)
    args = _with_option(args, "--out", str(out))
    if parsed.dry_run or parsed.table_only or parsed.slurm is not None:
        return _exit_code(lambda: reproduce_main(args))
    listed = _exit_code(lambda: reproduce_main([*args, "--dry-run"]))
    if listed != 0:
        return listed
    protocol = load_protocol(parsed.protocol).select(parsed.datasets, parsed.methods, parsed.seeds, parsed.settings)
    trained = [name for name, method in protocol.methods.items() if method.fit] or list(protocol.methods)
    one = {"--datasets": next(iter(protocol.datasets)), "--methods": trained[0],
           "--settings": next(iter(protocol.settings)), "--seeds": str(protocol.seeds[0])}  # fmt: skip
    for option, value in one.items():
        args = _with_option(args, option, value)
    chosen = protocol.select([one["--datasets"]], [one["--methods"]], [protocol.seeds[0]], [one["--settings"]])
    for key, value in smoke_overrides_for_runs(plan_runs(chosen, parsed.root)).items():
        args += ["--override", f"{key}={json.dumps(value)}"]
    code = _exit_code(lambda: reproduce_main(args))
    if code == 0:
        written = list(out.rglob(RESULTS_FILE))
        assert len(written) == 1, f"cpt-reproduce {' '.join(args)} exited 0 but wrote {written}, not one run's results"
    return code


def _run_tune(tune_main, args: list[str], out: Path) -> int:
    """`cpt-tune ARGS` with one trial per method, every fit at smoke size and `--out` under the test's folder (a
    tuned preset's header names the repository's `configs/tuned/...`); each method's preset must be written."""
    from cpt_lightning.tuning.cli import build_parser
    from cpt_lightning.tuning.search_space import load_search_space

    parsed = build_parser().parse_args(args)
    args = _with_option(_with_option(args, "--out", str(out)), "--trials", "1")
    data_classes = [data_class_of(["--config", path], Path.cwd()) for path in parsed.run_config]
    for key, value in (smoke_overrides(*data_classes) | SMOKE_VALIDATED_FIT).items():
        args += ["--override", f"{key}={json.dumps(value)}"]
    code = _exit_code(lambda: tune_main(args))
    if code == 0:
        for space in parsed.space:
            method = load_search_space(space).method
            assert (out / f"{method}.yaml").is_file(), f"cpt-tune {' '.join(args)} exited 0 without {method}.yaml"
    return code


def _python_args(args: list[str], tmp_path: Path) -> list[str]:
    """`python ARGS` at tiny size: a benchmark script with `--smoke`, a module's outputs under tmp_path."""
    if args[0].startswith("benchmarks/") and "--smoke" not in args:
        return [*args, "--smoke"]
    if args[0] == "-m" and args[1] in OUTPUT_OPTION:
        (tmp_path / "out").mkdir()
        return _with_option(args, OUTPUT_OPTION[args[1]], str(tmp_path / "out"))
    return args


def _run_cpt(cpt_main, args: list[str]) -> int:
    cpt_main(args)  # `cpt`'s console entry: returns None, or raises SystemExit with its status
    return 0


def _exit_code(call) -> int:
    try:
        code = call()
    except SystemExit as done:
        code = done.code
    return 0 if code in (0, None) else int(code) if isinstance(code, int) else 1


# A command identical to an earlier one once its paths are substituted (a config's header repeats the
# README's command with another data root) runs once: key -> (the command that ran, its exit status).
_EXIT_CODES: dict[tuple[str, ...], tuple[Command, int]] = {}


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_documented_command_runs(command, sandbox, monkeypatch, tmp_path):
    from cpt_lightning.cli import console_main as cpt_main
    from cpt_lightning.reproduce.cli import main as reproduce_main
    from cpt_lightning.tuning.cli import main as tune_main

    if command.needs & NOT_HERE:
        pytest.skip(f"needs {', '.join(sorted(command.needs & NOT_HERE))}")
    words = [_fill_placeholders(word) for word in _join_placeholders(shlex.split(command.text, comments=True))]
    words = [word.replace(OTHER_CHECKOUT, str(sandbox["repo"])) for word in words]
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no `wandb login`
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    (tmp_path / "tmp").mkdir()  # the scripts' temporary folders: the test's, not the shared /tmp
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    environment = []
    while words and "=" in words[0] and words[0].split("=", 1)[0].isupper():
        environment.append(words.pop(0))
        monkeypatch.setenv(*environment[-1].split("=", 1))
    work = sandbox["repo"]
    monkeypatch.chdir(work)
    _load_clip_once(monkeypatch, sandbox)
    program, args = words[0], words[1:]
    if program == "python" and args[:2] == ["-m", "cpt_lightning.reproduce"]:
        program, args = "cpt-reproduce", args[2:]
    if program == "python" and args[:2] == ["-m", "cpt_lightning.cli"]:
        program, args = "cpt", args[2:]
    if program == "cpt":
        args = _cpt_args(args, sandbox, work)
    key = (*environment, program, *args)
    if key in _EXIT_CODES:
        ran, code = _EXIT_CODES[key]
        assert code == 0, f"{command} exited with {code} (it is {ran} once its paths are substituted)"
        return

    if program == "cpt":
        code = _exit_code(lambda: _run_cpt(cpt_main, args))
    elif program == "cpt-reproduce":
        code = _run_reproduce(reproduce_main, args, tmp_path / "runs")
    elif program == "cpt-tune":
        code = _run_tune(tune_main, args, tmp_path / "tuned")
    elif program == "python":
        with contextlib.redirect_stdout(io.StringIO()):
            code = _run_python(_python_args(args, tmp_path))
    elif program in SCRIPTS:
        code = _run_console_script(SCRIPTS[program], program, args)
    else:
        pytest.fail(f"{command}: no way to run `{program}` here; if it needs a GPU or the network, mark it")
    _EXIT_CODES[key] = (command, code)
    assert code == 0, f"{command} exited with {code}"
