"""nlpkit's module import graph, read from the source with ``ast`` (nothing is imported).

Run ``python tests/import_graph.py`` to print every nlpkit module with the nlpkit modules it imports (``*``: at
module level, eagerly; without: inside a function, lazily) and the import cycles, if any (exit status 1).
``tests/test_imports.py`` fails on a cycle and on the prediction runtime reaching the training stack.

An import inside ``if TYPE_CHECKING:`` is not an edge (it never runs). ``from nlpkit import x`` is an edge to
``nlpkit.x`` when ``x`` is a module, and to the package ``nlpkit`` otherwise.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "nlpkit"


@dataclass
class Module:
    """One module: the modules it imports (nlpkit's and third-party top-level names), eager or lazy."""

    name: str
    eager: set[str] = field(default_factory=set)
    lazy: set[str] = field(default_factory=set)

    @property
    def imports(self) -> set[str]:
        return self.eager | self.lazy


def module_name(path: Path, root: Path = ROOT) -> str:
    """``nlpkit/models/tfidf.py`` -> ``nlpkit.models.tfidf``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def build(root: Path = ROOT) -> dict[str, Module]:
    """Every module under ``root`` with what it imports."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = {name: Module(name) for name in paths}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        _walk(tree.body, graph[name], set(paths), name, is_package, eager=True)
    return graph


def _walk(body: list[ast.stmt], module: Module, known: set[str], name: str, is_package: bool, eager: bool) -> None:
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            _walk(node.orelse, module, known, name, is_package, eager)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            (module.eager if eager else module.lazy).update(_targets(node, known, name, is_package))
            continue
        inner = eager and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child_body in _bodies(node):
            _walk(child_body, module, known, name, is_package, inner)


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    bodies = [getattr(node, a) for a in ("body", "orelse", "finalbody") if isinstance(getattr(node, a, None), list)]
    bodies += [h.body for h in getattr(node, "handlers", [])]
    bodies += [c.body for c in getattr(node, "cases", [])]
    return [b for b in bodies if b and isinstance(b[0], ast.stmt)]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, known: set[str], name: str, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {_top(alias.name, known) for alias in node.names}
    base = node.module or ""
    if node.level:  # relative import
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    found = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.add(sub if sub in known else _top(base, known))
    return found


def _top(dotted: str, known: set[str]) -> str:
    """An nlpkit module's own name (its longest known prefix), or a third-party import's top-level package."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return parts[0]


def cycles(graph: dict[str, Module], eager_only: bool = False) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself), sorted."""
    edges = {n: sorted(m for m in (g.eager if eager_only else g.imports) if m in graph) for n, g in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def reachable(graph: dict[str, Module], start: str, eager_only: bool = True) -> set[str]:
    """Everything ``start`` imports, directly or through other nlpkit modules (third-party names included).

    Importing ``nlpkit.a.b`` runs the packages ``nlpkit`` and ``nlpkit.a`` first, so they count as imported."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in graph:
            parts = name.split(".")
            todo += [".".join(parts[:n]) for n in range(1, len(parts))]
            todo += sorted(graph[name].eager if eager_only else graph[name].imports)
    return seen - {start}


def main() -> int:
    """Print the graph (nlpkit edges only) and the cycles; 1 if there is a cycle."""
    graph = build()
    for name, module in sorted(graph.items()):
        inner = sorted(m for m in module.imports if m in graph and m != name)
        print(f"{name} -> " + ", ".join(m + ("*" if m in module.eager else "") for m in inner))
    found = cycles(graph)
    print(f"\n{len(graph)} modules; {len(found)} import cycle(s)" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
