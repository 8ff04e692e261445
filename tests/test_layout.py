"""The package's shape: no import cycles, modules short enough to read, a cheap public import."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import hpfw
from tests.helpers import ROOT

PACKAGE = ROOT / "hpfw"
MAX_LINES = 350


def _modules() -> dict[str, Path]:
    """Every module under hpfw/ by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements among ``nodes`` that run when the module is imported."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue  # runs when called, not when imported
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_time_imports(node.orelse)
        else:
            yield from _import_time_imports(ast.iter_child_nodes(node))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The hpfw modules that module ``name`` imports at import time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_time_imports(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        else:
            if node.level:  # relative: from the package, up level - 1 packages
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from pkg import sub` imports the submodule pkg.sub when there is one.
                child = f"{source}.{alias.name}"
                found.add(child if child in modules else source)
    return {m for m in found if m in modules and m != name}


def test_the_import_graph_is_read_correctly() -> None:
    modules = _modules()
    assert "hpfw.data.digits" in _imports("hpfw.data", modules["hpfw.data"], modules)
    assert "hpfw.data.cache" in _imports("hpfw.data.digits", modules["hpfw.data.digits"], modules)
    # A TYPE_CHECKING import and one inside a function do not count.
    assert "hpfw.search" not in _imports("hpfw", modules["hpfw"], modules)
    assert "hpfw.trainer.groups" not in _imports("hpfw.app", modules["hpfw.app"], modules)


def test_no_import_cycles_between_hpfw_modules() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_no_module_is_over_350_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    too_long = {p: n for p, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"


def test_import_hpfw_is_cheap_and_changes_nothing() -> None:
    code = (
        "import os, sys; env = dict(os.environ); import hpfw; "
        "print(sorted(m for m in ('jax', 'hydra', 'numpy') if m in sys.modules), "
        "dict(os.environ) == env)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["[]", "True"], result.stderr


def test_every_public_name_resolves() -> None:
    for name in hpfw.__all__:
        assert getattr(hpfw, name) is not None, name
    assert issubclass(hpfw.HpfwError, Exception)
    assert hpfw.Float(0.0, 1.0) is not None and hpfw.Distribution is not None
    with pytest.raises(AttributeError):
        hpfw.no_such_name  # noqa: B018
