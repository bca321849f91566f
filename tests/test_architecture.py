"""The shape of the library: its import graph has no cycles and keeps its layers, argparse
lives only in the CLI package, and no module grows past 500 lines.

The graph is read from the source with :mod:`ast` (nothing is imported): every ``import`` and
``from ... import`` of a ``gns_pyro`` module anywhere in a file, inside functions too, relative
imports resolved. A package's ``__init__`` is a node of its own (``gns_pyro.data.__init__``);
``from gns_pyro.data import Omniglot`` is an edge to it, ``from gns_pyro.data import omniglot``
one to the submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gns_pyro

PACKAGE = Path(gns_pyro.__file__).resolve().parent

#: The layers, lowest first: a module may import only from its own layer or lower ones. The
#: placement of the modules outside the named packages follows what they import and who
#: imports them:
#:
#: * core: the parse containers and their geometry, the renderer, splines, errors, files (writing
#:   and the reading boundary), and
#:   the leaf helpers (devices, progress bars, picture grids) that import no model;
#:   ``gns_pyro/__init__.py`` is here as a target (its entry points load lazily, by string, so
#:   it imports nothing) and is not checked as an importer;
#: * data: reading Omniglot and KanjiVG, fitting splines to drawings, and ``nearest`` (nearest
#:   training drawings, an index over the data); data code does not know the nets;
#: * nets: the neural networks, which know neither data nor models, and ``evaluate`` (the
#:   judges: small classifier CNNs that read images only);
#: * models: the Pyro programs over a domain, and ``pretrained`` (the shipped nets of the
#:   character domain); models may read Omniglot's frame size from the data layer;
#: * inference: parsing images (``inference``), and the peers that use the models the same
#:   way: training the type prior (``train``) and sampling new characters (``sample``);
#: * tasks: the experiments, built on inference, training and sampling;
#: * cli: the command line, the only layer that parses arguments.
LAYERS = {
    "core": (
        "gns_pyro.__init__",
        "gns_pyro.errors",
        "gns_pyro.fileio",
        "gns_pyro.reading",
        "gns_pyro.splines",
        "gns_pyro.geometry",
        "gns_pyro.parses",
        "gns_pyro.renderer",
        "gns_pyro.devices",
        "gns_pyro.progress",
        "gns_pyro.viz",
    ),
    "data": ("gns_pyro.data", "gns_pyro.nearest"),
    "nets": ("gns_pyro.nets", "gns_pyro.evaluate"),
    "models": ("gns_pyro.models", "gns_pyro.pretrained"),
    "inference": ("gns_pyro.inference", "gns_pyro.train", "gns_pyro.sample"),
    "tasks": ("gns_pyro.tasks",),
    "cli": ("gns_pyro.cli",),
}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}

#: Importers not checked against the layers (the entry-point table imports lazily by string).
EXEMPT = {"gns_pyro.__init__"}

MAX_LINES = 500


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``gns_pyro/data/omniglot.py`` -> ``gns_pyro.data.omniglot``; ``__init__`` kept."""
    return ".".join(path.relative_to(root.parent).with_suffix("").parts)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the gns_pyro modules it imports (see the module docstring)."""
    nodes = modules(root)

    def node(name: str) -> str | None:
        if name in nodes:
            return name
        if f"{name}.__init__" in nodes:
            return f"{name}.__init__"
        return None

    graph = {}
    for name, path in nodes.items():
        package = name.rsplit(".", 1)[0]  # a module's package; an __init__'s own package
        targets = set()
        for stmt in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.name.split(".")[0] == "gns_pyro":
                        targets.add(node(alias.name))
            elif isinstance(stmt, ast.ImportFrom):
                if stmt.level:
                    base = package.split(".")[: len(package.split(".")) - stmt.level + 1]
                    source = ".".join(base + ([stmt.module] if stmt.module else []))
                else:
                    source = stmt.module or ""
                if source.split(".")[0] != "gns_pyro":
                    continue
                for alias in stmt.names:
                    targets.add(node(f"{source}.{alias.name}") or node(source))
        if None in targets:
            raise AssertionError(f"{name} imports a gns_pyro module that does not exist")
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m) :] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        state[n] = 2
        path.pop()
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def layer_of(name: str) -> str | None:
    """The layer of a module: the longest prefix in :data:`LAYERS` that names it or a package
    above it."""
    best, best_len = None, -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer, and modules in no layer."""
    out = [f"{name} is in no layer" for name in sorted(graph) if layer_of(name) is None]
    for name, targets in sorted(graph.items()):
        if name in EXEMPT or layer_of(name) is None:
            continue
        for target in sorted(targets):
            own, other = layer_of(name), layer_of(target)
            if other is not None and RANK[other] > RANK[own]:
                out.append(f"{name} ({own}) imports {target} ({other})")
    return out


def imports_argparse(path: Path) -> bool:
    for stmt in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(stmt, ast.Import) and any(a.name == "argparse" for a in stmt.names):
            return True
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "argparse":
            return True
    return False


def long_modules(root: Path = PACKAGE) -> list[str]:
    return [
        f"{name}: {n} lines"
        for name, path in modules(root).items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]


# ----------------------------------------------------------------------------------- the rules
def test_the_import_graph_has_no_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_import_graph_keeps_its_layers():
    assert layer_violations(import_graph()) == []


def test_only_the_cli_package_imports_argparse():
    outside = [
        name
        for name, path in modules().items()
        if layer_of(name) != "cli" and imports_argparse(path)
    ]
    assert outside == []


def test_the_frame_size_does_not_come_from_the_renderer():
    """Nets and data code take the frame size from the domain or from Omniglot's constant in
    the data layer; the only data module that imports the renderer draws with it (the fidelity
    check renders the stroke data to compare with the official images)."""
    graph = import_graph()
    users = sorted(
        name
        for name, targets in graph.items()
        if layer_of(name) in ("nets", "data") and "gns_pyro.renderer" in targets
    )
    assert users == ["gns_pyro.data.fidelity"]


def test_no_module_is_longer_than_500_lines():
    assert long_modules() == []


# ------------------------------------------------------------------ the rules can fail at all
@pytest.fixture
def toy_package(tmp_path):
    """A fake ``gns_pyro`` tree to write offending modules into."""
    root = tmp_path / "gns_pyro"
    (root / "models").mkdir(parents=True)
    (root / "nets").mkdir()
    for init in (root, root / "models", root / "nets"):
        (init / "__init__.py").write_text("")
    return root


def test_a_cycle_through_a_function_level_relative_import_is_found(toy_package):
    (toy_package / "parses.py").write_text("def f():\n    from .renderer import render\n")
    (toy_package / "renderer.py").write_text("from gns_pyro.parses import f\n")
    cycle = find_cycle(import_graph(toy_package))
    assert cycle is not None and set(cycle) == {"gns_pyro.parses", "gns_pyro.renderer"}


def test_a_lower_layer_importing_a_higher_one_is_a_violation(toy_package):
    (toy_package / "models" / "character.py").write_text("X = 1\n")
    (toy_package / "nets" / "stroke.py").write_text(
        "def f():\n    import gns_pyro.models.character\n"
    )
    (toy_package / "unplaced.py").write_text("")
    assert layer_violations(import_graph(toy_package)) == [
        "gns_pyro.unplaced is in no layer",
        "gns_pyro.nets.stroke (nets) imports gns_pyro.models.character (models)",
    ]


def test_argparse_and_long_modules_are_found(toy_package):
    (toy_package / "nets" / "options.py").write_text(
        "def f():\n    from argparse import ArgumentParser\n"
    )
    (toy_package / "nets" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert imports_argparse(toy_package / "nets" / "options.py")
    assert long_modules(toy_package) == [f"gns_pyro.nets.long: {MAX_LINES + 1} lines"]
