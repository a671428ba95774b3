"""The package's import graph, read from the source (no module is imported): no cycle, and the layers hold.

Every ``import sez...`` and ``from sez... import`` counts, at any level (inside
functions too); relative imports are resolved; ``from sez.x import y`` is an
edge to ``sez.x.y`` when that is a module, else to ``sez.x``. An import is an
edge to the module it names, not to the packages above it; imports for type
checkers only count as well.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: The general estimators: usable without the papers and the application.
ESTIMATORS = ("sez.did", "sez.tfp", "sez.probit", "sez.stats", "sez.agglo", "sez.moments", "sez.model", "sez.smm",
              "sez.data", "sez.panel", "sez.results", "sez.tables", "sez.store", "sez.parallel", "sez.progress",
              "sez.errors", "sez.testing", "sez.limits")
APPLICATION = ("sez.run", "sez.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / "sez").rglob("*.py"))}


def _edges(modules: dict[str, Path]) -> dict[str, list[tuple[str, int, str, bool]]]:
    """module -> [(imported module, line, the import as written)]."""

    def deepest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, list[tuple[str, int, str]]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found = []
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "sez" or alias.name.startswith("sez."):
                        found.append((deepest(alias.name), node.lineno, f"import {alias.name}"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source != "sez" and not source.startswith("sez."):
                    continue
                written = f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}"
                for alias in node.names:
                    target = f"{source}.{alias.name}"
                    found.append((target if target in modules else deepest(source), node.lineno, written))
        graph[module] = [edge for edge in found if edge[0] and edge[0] != module]
    return graph


MODULES = _modules()
GRAPH = _edges(MODULES)


def _where(module: str, target: str) -> str:
    line, text = next((line, text) for t, line, text in GRAPH[module] if t == target)
    return f"{MODULES[module].relative_to(SRC)}:{line}: {text}"


def _cycle() -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target, _, _ in GRAPH[module]:
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in GRAPH:
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def _reaches(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """Chains of imports from a module under ``sources`` to one under ``forbidden``, one per source module."""

    def under(module: str, prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)

    chains = []
    for start in (m for m in GRAPH if under(m, sources)):
        parent: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            module = queue.popleft()
            if under(module, forbidden):
                chain = [module]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                chain.reverse()
                chains.append(" -> ".join(_where(a, b) for a, b in zip(chain, chain[1:])))
                break
            for target, _, _ in GRAPH[module]:
                if target not in parent:
                    parent[target] = module
                    queue.append(target)
    return chains


def test_the_graph_is_read_from_every_module():
    assert {"sez", "sez.cli", "sez.run", "sez.run.runner", "sez.did", "sez.papers.numbers"} <= set(GRAPH)
    assert "sez.errors" in {t for t, *_ in GRAPH["sez.run.config"]}
    assert "sez.run.config" in {t for t, *_ in GRAPH["sez.cli"]}  # imports inside functions count


def test_no_import_cycle():
    cycle = _cycle()
    assert cycle is None, "import cycle:\n" + "\n".join(_where(a, b) for a, b in zip(cycle, cycle[1:]))


def test_estimators_never_import_the_papers_or_the_application():
    chains = _reaches(ESTIMATORS, ("sez.papers",) + APPLICATION)
    assert not chains, "\n".join(chains)


def test_papers_never_import_the_application():
    chains = _reaches(("sez.papers",), APPLICATION)
    assert not chains, "\n".join(chains)


@pytest.mark.parametrize("relative, expected", [("from . import x", "sez.did.x"), ("from .. import tfp", "sez.tfp"),
                                                ("from ..papers.numbers import read", "sez.papers.numbers")])
def test_relative_imports_are_resolved(tmp_path, monkeypatch, relative, expected):
    root = tmp_path / "src" / "sez"
    for name in ("__init__.py", "tfp.py", "did/__init__.py", "did/x.py", "did/y.py", "papers/__init__.py",
                 "papers/numbers.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (root / "did" / "y.py").write_text(relative + "\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path / "src")
    assert [t for t, *_ in _edges(_modules())["sez.did.y"]] == [expected]
