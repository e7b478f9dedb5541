"""The package's imports point one way: a module imports only from its own unit or from a lower layer.

Read from the source with `ast` (nothing is imported), lazy imports inside functions included. The
layer order is the package's architecture (docs/architecture.md); a new module or subpackage must
be placed in it here, or this test fails and says so.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "cpt_lightning"

# Lowest first. Units of one layer are peers and must not import each other (metrics and losses
# share the ETF core through `clustering`, not through one another).
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundation: no cpt_lightning imports beyond this layer
    (
        "cpt_lightning",
        "atomic_write",
        "progress",
        "image_settings",
        "optim",
        "labels",
        "extras",
        "presets",
        "checkpoints",
        "config_files",
        "process_cache",
        "errors",
        "hardware",
        "trainer_options",
    ),
    # pure geometry of the cluster-invariant space; the procedural world and its shipped CLIP's path
    ("clustering", "world"),
    # torchmetrics metrics (and the metric-key contract); loss terms
    ("metrics", "losses"),
    # frozen CLIP, prompt learners, the LightningModule
    ("models", "loggers"),
    # data modules (may build features with a model); Lightning callbacks and plugins
    ("data", "callbacks", "plugins", "commands"),
    # the LightningCLI entry point
    ("cli",),
    # what runs the CLI or reads checkpoints: the experiment runner, checkpoint analysis
    ("reproduce", "analysis"),
    # tooling that regenerates assets and docs; test helpers; cpt-tune (runs the CLI, reads protocols)
    ("tools", "testing", "tuning"),
)
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """`cpt_lightning.metrics.keys` -> `metrics`; `cpt_lightning` -> `cpt_lightning`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> tuple[str, bool]:
    """Dotted name of a source file, and whether it is a package's `__init__`."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def package_imports(path: Path) -> set[str]:
    """Every `cpt_lightning` module a source file imports, relative imports resolved."""
    name, is_package = module_name(path)
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t == "cpt_lightning" or t.startswith("cpt_lightning."))
    return found


def import_graph() -> dict[str, set[str]]:
    return {module_name(path)[0]: package_imports(path) for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def test_every_unit_has_a_layer():
    units = {unit_of(module) for module in import_graph()}
    unplaced = sorted(units - set(LAYER_OF))
    assert not unplaced, f"place {unplaced} in LAYERS (tests/test_import_layers.py) and in docs/architecture.md"


def test_no_import_runs_to_a_higher_layer_or_a_peer():
    wrong = []
    for module, imports in import_graph().items():
        unit = unit_of(module)
        for target in imports:
            target_unit = unit_of(target)
            if target_unit == unit or (target_unit == "cpt_lightning" and target == "cpt_lightning"):
                continue
            if LAYER_OF[target_unit] >= LAYER_OF[unit]:
                wrong.append(
                    f"{module} imports {target} ({unit} is layer {LAYER_OF[unit]}, "
                    f"{target_unit} is layer {LAYER_OF[target_unit]})"
                )
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle_between_modules():
    graph = import_graph()
    # An import of a package means its `__init__`; `from package import module` lands on either.
    edges = {module: {t for t in targets if t in graph and t != module} for module, targets in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_walker_sees_a_wrong_import(tmp_path, monkeypatch):
    # The walker itself: a lower layer importing a higher one is reported.
    fake = tmp_path / "cpt_lightning"
    (fake / "metrics").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "metrics" / "__init__.py").write_text("")
    (fake / "metrics" / "bad.py").write_text("from cpt_lightning.models.cpt_module import CPTModule\n")
    (fake / "metrics" / "lazy.py").write_text("def f():\n    from ..losses import base\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE_ROOT", fake)
    assert import_graph()["cpt_lightning.metrics.bad"] == {"cpt_lightning.models.cpt_module"}
    assert import_graph()["cpt_lightning.metrics.lazy"] == {"cpt_lightning.losses"}
    try:
        test_no_import_runs_to_a_higher_layer_or_a_peer()
    except AssertionError as error:
        assert "cpt_lightning.metrics.bad imports cpt_lightning.models.cpt_module" in str(error)
        assert "cpt_lightning.metrics.lazy imports cpt_lightning.losses" in str(error)
    else:
        raise AssertionError("an import from metrics to models went unnoticed")
