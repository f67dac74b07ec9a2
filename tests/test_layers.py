"""The house's layers: every module imports only from its own layer or those below, and no two modules import
each other, even under TYPE_CHECKING or inside a function (STYLE.md, "The shape of the house")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "mentionwatch"

# From the bottom. A module not listed fails the test: a new module takes its place here deliberately.
LAYERS: list[set[str]] = [
    {
        "mentionwatch",
        "errors",
        "models",
        "ahead",
        "text",
        "urls",
        "redaction",
        "entrypoints",
        "when",
        "pattern",
        "stopwords",
        "locate",
        "startup",
    },
    {"query", "matching", "vocabulary"},
    {"sentiment", "workers", "impact", "dedupe", "outlets"},
    {"http", "transport", "cache", "store", "replay", "prefetch"},
    {"source", "reply", "registry", "plugin", "sources", "graphapi"},
    {"config", "yamlload"},
    {"pipeline", "outbox"},
    {"output", "explain", "progress", "report", "notify", "config_edit", "inbox"},
    {"cli", "__main__", "launch"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """A module's layer is its top-level name's: `mentionwatch.sources.rss` sits with `sources`."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "mentionwatch"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module}: not in any layer of tests/test_layers.py")


def imports_of(path: Path, module: str) -> set[str]:
    """Every mentionwatch module `path` imports, at any depth; `from mentionwatch.x import y` counts `y` when
    it is a module itself."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mentionwatch"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("mentionwatch"):
                continue
            found.add(base)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in MODULES:
                    found.add(candidate)
    found.discard(module)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path, name) for name, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = [
        f"{name} (layer {layer_of(name)}) imports {dep} (layer {layer_of(dep)})"
        for name, deps in GRAPH.items()
        for dep in deps
        if dep != "mentionwatch" and layer_of(dep) > layer_of(name)
    ]
    assert upward == []


def test_there_is_no_import_cycle() -> None:
    # Tarjan's strongly connected components: any component of more than one module is a cycle. A package's
    # __init__ importing its own submodules (`store` -> `store.sqlite`) is its interface, not a cycle, so an
    # edge from a submodule to the package it lives in is left out.
    edges = {
        name: {d for d in deps if d in GRAPH and not name.startswith(d + ".") and d != "mentionwatch"}
        for name, deps in GRAPH.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []


def test_no_sql_outside_the_store_and_the_http_cache() -> None:
    # The store is the one place mention data meets SQL (the HTTP cache keeps its own small table of bodies).
    allowed = {"mentionwatch.store", "mentionwatch.cache"}
    users = sorted(
        name
        for name, path in MODULES.items()
        if re.search(r"^\s*(import sqlite3|from sqlite3 )", path.read_text(encoding="utf-8"), re.M)
        and not any(name.startswith(a) for a in allowed)
    )
    assert users == []
