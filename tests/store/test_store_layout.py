"""The store's shape (issue 20 item 4): its modules import no cycle, none calls another's private
functions, and its tables are named only in the schema and the store's own modules."""
from __future__ import annotations

import ast
from pathlib import Path

import erank_studio

PACKAGE = Path(erank_studio.__file__).parent
STORE = PACKAGE / "store"


def _store_imports(path: Path) -> set[str]:
    """The erank_studio.store modules ``path`` imports (anywhere in it, lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return {name for name in found if (STORE / f"{name}.py").exists()}


def test_the_store_modules_import_no_cycle():
    graph = {p.stem: _store_imports(p) for p in STORE.glob("*.py") if p.stem != "__init__"}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join(path + (module,))
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            visit(other, path + (module,))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_no_store_module_calls_the_facades_private_methods():
    offenders = []
    for path in STORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in ("store", "Store")):
                offenders.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert offenders == []


def test_tables_are_imported_only_inside_the_store():
    from erank_studio.store import schema

    # The schema's table handles, and the one-letter names the store once exported.
    TABLE_NAMES = {n for n in vars(schema) if n.isupper() and n != "HEAD_REVISION"} | {
        "Q", "D", "QD", "R", "J", "A", "L", "QR", "RO"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if STORE in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(("store.schema", "store.store")):
                names = [a.name for a in node.names if a.name in TABLE_NAMES]
                if names:
                    offenders.append(f"{path.relative_to(PACKAGE)}: {names}")
    assert offenders == []
