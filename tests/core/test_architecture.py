"""The floors of the code: no import cycle anywhere (imports inside functions included), the API
complete enough for the built-in plugins, and the layers of ``.importlinter`` (``lint-imports``)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_emokit_or_its_plugins_counting_imports_inside_functions() -> None:
    graph = grimp.build_graph("emokit", "emokit_plugins", include_external_packages=False)
    # grimp reads every import statement, those inside functions (and under TYPE_CHECKING) too
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def _plugin_imports() -> set[str]:
    """Every ``emokit...`` module the built-in plugins import (any statement, any depth)."""
    found: set[str] = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {m for m in found if m == "emokit" or m.startswith("emokit.")}


def test_the_built_in_plugins_import_only_the_public_api() -> None:
    assert _plugin_imports() == {"emokit.api"}


def test_the_layers_contract_holds() -> None:
    beside = Path(sys.executable).with_name("lint-imports")  # the venv's, even when not on PATH
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert command, "import-linter is not installed (pip install -e '.[test]')"
    result = subprocess.run([command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_no_test_module_imports_another_test_module() -> None:
    """Shared helpers live in tests/support/, so moving or deleting a test never breaks another."""
    tests = ROOT / "tests"
    test_modules = {p.stem for p in tests.rglob("test_*.py")}
    offenders = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad = [n for n in names if n.split(".")[-1] in test_modules]
            offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in bad]
    assert not offenders, "\n".join(offenders)
