"""No import cycles among erank_studio's modules (issue 20, 6), read from the source with ast.

Every import counts, those inside functions too: a function-level import that closes a cycle
only defers the problem to the first call. Not counted: imports under ``if TYPE_CHECKING``
(never run), and the package a module lies in (Python initialises a package before its modules,
so a module may always name its parent; an edge to a parent counts only when the module imports
a name defined in the parent's ``__init__``, as ``from . import EngineUnavailable`` did)."""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "erank_studio"

def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    """Every import statement, except those under ``if TYPE_CHECKING``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """module -> the modules it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in modules]
                # Names that are not submodules are defined in ``module`` itself.
                targets = submodules + ([module] if len(submodules) < len(node.names) else [])
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "erank_studio.judge" in graph["erank_studio.runs"]  # from . import judge
    assert "erank_studio.engines.base" in graph["erank_studio.judge"]  # from .engines.base import ...
    assert "erank_studio.engines.forcing" in graph["erank_studio.scoring"]  # inside a function


def test_no_import_cycles():
    graph = import_graph()
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"an import cycle: {' -> '.join(error.args[1])}")
