"""The command line is one layer: argparse is imported only under ``gns_pyro/cli/``, and the
library's task functions take typed job specs, not command-line strings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gns_pyro

PACKAGE = Path(gns_pyro.__file__).resolve().parent


def argparse_imports(source: str) -> list[int]:
    """Line numbers of every ``import argparse`` / ``from argparse import ...`` in ``source``,
    at any depth (inside functions and classes too)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] == "argparse" for alias in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] == "argparse":
                lines.append(node.lineno)
    return lines


def library_files() -> list[Path]:
    """Every module of gns_pyro outside the CLI package."""
    cli = PACKAGE / "cli"
    return [p for p in sorted(PACKAGE.rglob("*.py")) if cli not in p.parents]


def test_no_module_outside_the_cli_package_imports_argparse():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in library_files()
        for line in argparse_imports(path.read_text())
    ]
    assert not offenders, f"argparse imported outside gns_pyro/cli/: {offenders}"


def test_the_check_sees_imports_at_any_depth():
    assert argparse_imports("import argparse\n") == [1]
    assert argparse_imports("import os, argparse as ap\n") == [1]
    assert argparse_imports("def f():\n    from argparse import Namespace\n") == [2]
    assert argparse_imports("class A:\n    def f(self):\n        import argparse\n") == [3]
    assert argparse_imports("from . import argparse_like\nimport argparsex\n") == []


def test_the_cli_package_is_where_the_commands_live():
    assert (PACKAGE / "cli" / "__init__.py").is_file()
    assert any(argparse_imports(p.read_text()) for p in (PACKAGE / "cli").glob("*.py"))
    assert len(library_files()) > 20  # the library was found


@pytest.mark.data
def test_tasks_take_run_numbers_and_shards_not_strings(tmp_path, omniglot_dir):
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.classify import run_trials
    from gns_pyro.tasks.results import Shard

    # run 3's 20 trials split in 30 shards: shard 25 holds none
    with pytest.raises(GNSError, match="none in shard 25/30"):
        run_trials(omniglot_dir, tmp_path, runs=[3], shard=Shard(25, 30))
    with pytest.raises(GNSError, match="run99"):
        run_trials(omniglot_dir, tmp_path, runs=[99])


def test_a_shard_is_a_block_of_the_work():
    from gns_pyro.tasks.results import Shard

    assert Shard(2, 4).block(range(8)) == [2, 3]
    assert Shard().block([1, 2, 3]) == [1, 2, 3]
    assert str(Shard(2, 4)) == "2/4" and Shard(2, 4) == (2, 4)
    with pytest.raises(ValueError, match="1 <= index <= count"):
        Shard(0, 4).block([1])
