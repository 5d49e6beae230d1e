"""The house's import rules, kept true: no cycles among `auditor/` modules, and imports flow down the layers.

Layers, top to bottom: cli → report → audit → explain → search | model → ground (errors, data, pictures,
and the package root). `search` and `model` sit side by side and never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"
LAYERS = {"__main__": 7, "cli": 6, "report": 5, "audit": 4, "explain": 3, "search": 2, "model": 2}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports by name, at any depth of its code."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            edges[name] |= {target for target in targets if target in known and target != name}
    return edges


def layer(module: str) -> tuple[int, str]:
    """(height, family) of a module: ground modules are height 0."""
    parts = module.split(".")
    family = parts[1] if len(parts) > 1 else ""
    return LAYERS.get(family, 0), family


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer to a higher one, or across the search/model siblings."""
    bad = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            (low, low_family), (high, high_family) = layer(source), layer(target)
            if high > low or (high == low and low > 0 and low_family != high_family):
                bad.append(f"{source} -> {target}")
    return bad


def test_no_import_cycles() -> None:
    assert cycles(import_edges()) == []


def test_imports_flow_down() -> None:
    assert upward(import_edges()) == []


def test_the_walk_sees_a_cycle_and_an_upward_edge() -> None:
    edges = {
        "auditor.search.a": {"auditor.search.b"},
        "auditor.search.b": {"auditor.search.a", "auditor.cli"},
    }
    edges["auditor.cli"] = set()
    assert cycles(edges) == [["auditor.search.a", "auditor.search.b"]]
    assert upward(edges) == ["auditor.search.b -> auditor.cli"]


if __name__ == "__main__":
    graph = import_edges()
    for component in cycles(graph):
        print("cycle:", " ".join(component))
    for edge in upward(graph):
        print("upward:", edge)
