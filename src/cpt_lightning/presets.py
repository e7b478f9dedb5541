"""The shipped configs as package data: `cpt:NAME` addresses and `cpt presets list|show|copy`.

The package's `configs/` folder is the checkout's `configs/` (a symlink that the wheel build
follows), so a preset and the checkout file are the same file. `cpt:demo` names
`configs/demo.yaml`, `cpt:methods/cpt` names `configs/methods/cpt.yaml`; a run config's relative
references (`trainer: trainer/gpu.yaml`) resolve beside it, inside the package, like any file.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
from importlib.resources import files
from pathlib import Path

PRESET_PREFIX = "cpt:"
CHECKOUT_FOLDER = "configs"  # what protocols and docs call the presets in a checkout


def presets_dir() -> Path:
    """The folder that holds the presets inside the installed package."""
    return Path(str(files("cpt_lightning") / "configs"))


def preset_names() -> list[str]:
    """Every preset, as its address without the prefix (`demo`, `methods/cpt`, `world/protocol`)."""
    root = presets_dir()
    return sorted(path.relative_to(root).with_suffix("").as_posix() for path in root.rglob("*.yaml"))


def resolve_preset(address: str) -> Path:
    """The file of a `cpt:NAME` address (`.yaml` optional), or an error that lists close names."""
    name = address.removeprefix(PRESET_PREFIX).removesuffix(".yaml")
    path = presets_dir() / f"{name}.yaml"
    if not path.is_file():
        close = difflib.get_close_matches(name, preset_names(), n=5, cutoff=0.4)
        hint = f" Did you mean {', '.join(PRESET_PREFIX + c for c in close)}?" if close else ""
        raise FileNotFoundError(
            f"No preset {address!r} in {presets_dir()}.{hint} List them with `cpt presets list`."
        )
    return path


def expand_preset_args(args: list[str]) -> list[str]:
    """Command-line arguments with every `cpt:NAME` value (also in `--flag=cpt:NAME`) replaced by its file."""
    expanded = []
    for arg in args:
        flag, equals, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if value.startswith(PRESET_PREFIX):
            value = str(resolve_preset(value))
        expanded.append(f"{flag}{equals}{value}")
    return expanded


def packaged_config(relative: str) -> Path | None:
    """The preset for a checkout path `configs/X` (as protocols name files), or None when there is none."""
    parts = Path(relative).parts
    if not parts or parts[0] != CHECKOUT_FOLDER:
        return None
    path = presets_dir().joinpath(*parts[1:])
    return path if path.is_file() else None


def copy_presets(destination: Path) -> list[Path]:
    """Copy every preset under `destination` (a folder to edit them in); refuse to overwrite any file."""
    root = presets_dir()
    sources = sorted(root.rglob("*.yaml"))
    targets = [destination / source.relative_to(root) for source in sources]
    existing = [target for target in targets if target.exists()]
    if existing:
        raise FileExistsError(
            f"{len(existing)} preset files already exist under {destination} (first: {existing[0]}); "
            "copy into an empty or new folder, or remove those files first."
        )
    for source, target in zip(sources, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return targets


def presets_main(argv: list[str]) -> int:
    """`cpt presets list | show NAME | copy DIR`."""
    parser = argparse.ArgumentParser(prog="cpt presets", description="The configs shipped inside the package.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every preset address (use it as `--config cpt:NAME`)")
    show = commands.add_parser("show", help="print one preset")
    show.add_argument("name", help="a preset, e.g. demo or cpt:methods/cpt")
    copy = commands.add_parser("copy", help="copy every preset into DIR, to edit")
    copy.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "list":
        print(f"# {presets_dir()}")
        for name in preset_names():
            print(PRESET_PREFIX + name)
    elif args.command == "show":
        print(resolve_preset(args.name).read_text(), end="")
    else:
        targets = copy_presets(args.directory)
        print(f"Copied {len(targets)} presets to {args.directory}; run configs refer to their neighbours relatively.")
    return 0
