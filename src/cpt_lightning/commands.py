"""`cpt`'s own subcommands beside LightningCLI's, and what every `cpt` command line passes through first.

`cpt presets ...` and `cpt export ...` are plain argparse programs; everything
else goes to LightningCLI (`fit`, `validate`, `test`, `predict`) after `cpt:NAME` preset
addresses are replaced by their files and Lightning's `--optimizer` / `--lr_scheduler` flags,
which would silently override the module's optimizer factories, are refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from cpt_lightning.presets import expand_preset_args

# Lightning's automatic optimizer arguments -> the CPTModule keys that configure them.
OPTIMIZER_KEYS = {"--optimizer": "--model.optimizer", "--lr_scheduler": "--model.scheduler"}


def _presets(argv: list[str]) -> int:
    from cpt_lightning.presets import presets_main

    return presets_main(argv)


def _export(argv: list[str]) -> int:
    from cpt_lightning.models.export import export_main

    return export_main(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {"presets": _presets, "export": _export}


def refuse_optimizer_flags(args: list[str]) -> None:
    """Raise if `args` use Lightning's `--optimizer` / `--lr_scheduler`, naming the module's own key."""
    for arg in args:
        flag = arg.split("=", 1)[0].split(".", 1)[0]
        if flag in OPTIMIZER_KEYS:
            key = OPTIMIZER_KEYS[flag]
            raise ValueError(
                f"`{flag}` is not a `cpt` argument: CPTModule builds its optimizer and scheduler from its own "
                f"factories. Use `{key}` instead (e.g. `{key} torch.optim.AdamW --{key[2:]}.lr 0.002`, or a "
                f"`{key[2:]}:` section in the YAML)."
            )


def lightning_args(args: list[str]) -> list[str]:
    """The arguments LightningCLI gets: presets resolved, optimizer overrides refused."""
    refuse_optimizer_flags(args)
    return expand_preset_args(args)


def dispatch(argv: list[str] | None = None) -> int | None:
    """Run `cpt`'s own subcommand and return its exit status, or None when LightningCLI should run."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return None
