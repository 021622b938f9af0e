"""The sandbox's folders are Kubernetes' components, and they depend on each other the way those
do: no import cycles, and no layer reaching up into one that builds on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sandbox"

# What each layer may import besides itself (prefixes of module names).
ALLOWED = {
    "sandbox.apimachinery": ("sandbox.resources",),
    "sandbox.storage": ("sandbox.apimachinery", "sandbox.resources"),
    "sandbox.apiserver": (
        "sandbox.apimachinery",
        "sandbox.storage",
        "sandbox.resources",
        "sandbox.clock",
        "sandbox.paths",
        "sandbox.storageclasses",
        # exec, logs and port-forward reach the node as the API server's proxy to the kubelet
        "sandbox.kubelet.podspec",
        "sandbox.kubelet.containerview",
    ),
    "sandbox.controllers": (
        "sandbox.apimachinery",
        "sandbox.storage",
        "sandbox.apiserver",  # writes as a client's would go: through the registry
        "sandbox.resources",
        "sandbox.clock",
        "sandbox.events",
        "sandbox.paths",
        "sandbox.storageclasses",
    ),
    # a client of the API server that watches as the controllers do
    "sandbox.kubeproxy": (
        "sandbox.apimachinery",
        "sandbox.storage",
        "sandbox.apiserver",
        "sandbox.resources",
        "sandbox.controllers.base",
    ),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The sandbox modules a file imports at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for dep in _imports(path, modules):
            deps.add(dep)
            # importing a.b.c runs a.b's __init__ first, unless the importer lives inside a.b
            parts = dep.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in modules and not name.startswith(parent + "."):
                    deps.add(parent)
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_builds_on(layer: str) -> None:
    allowed = (layer, *ALLOWED[layer])
    wrong = {
        f"{module} imports {dep}"
        for module, deps in _graph().items()
        if module == layer or module.startswith(layer + ".")
        for dep in deps
        # a package's __init__ runs for any of its modules, so the package itself is allowed
        # wherever one of its modules is
        if not any(dep == a or dep.startswith(a + ".") or a.startswith(dep + ".") for a in allowed)
    }
    assert sorted(wrong) == []
