"""accounts' modules import one way (no cycles, local imports inside functions included), and selectors only read."""

from __future__ import annotations

import ast
from pathlib import Path

import accounts

ACCOUNTS = Path(accounts.__file__).parent


def _imports(path: Path) -> set[str]:
    """The ``accounts`` modules ``path`` imports anywhere in its body (``accounts.x`` or ``from accounts import x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "accounts":
            found.update(f"accounts.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("accounts."):
            found.add(str(node.module))  # and ``from accounts.services import workspaces``: the submodule
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("accounts."))
    return found


def _graph() -> dict[str, set[str]]:
    """accounts' modules (those of the ``accounts.services`` package included) and the ones each imports."""
    modules = {f"accounts.{p.stem}": p for p in ACCOUNTS.glob("*.py") if p.stem != "__init__"}
    modules |= {f"accounts.services.{p.stem}": p for p in (ACCOUNTS / "services").glob("*.py") if p.stem != "__init__"}
    modules["accounts.services"] = ACCOUNTS / "services" / "__init__.py"
    return {name: _imports(path) & modules.keys() - {name} for name, path in modules.items()}


def test_accounts_imports_have_no_cycle():
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for imported in graph[module]:
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_selectors_and_permissions_do_not_reach_the_writers():
    graph = _graph()
    assert graph["accounts.selectors"] <= {"accounts.models"}
    writers = {m for m in graph if m == "accounts.services" or m.startswith("accounts.services.")}
    assert "accounts.services.workspaces" in writers  # the package is in the graph
    assert not graph["accounts.permissions"] & writers
