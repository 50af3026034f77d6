"""The layout's rules, checked on the source: ``connectors`` never imports ``router``, and no import cycle.

The connectors are a library the daemon uses; importing them must not drag the daemon in; nor does the
daemon import ``router.demo`` (only the command line does). And the modules
of ``router`` and ``connectors`` import each other without a cycle, function-level imports included (a
deferred import hides a cycle from Python, not from the design). The graph is built from the source with
``ast``, so every module counts, whether or not a test happens to import it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("router", "connectors")


def test_importing_the_connectors_imports_no_router_module() -> None:
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import connectors\n"
        "for info in pkgutil.walk_packages(connectors.__path__, 'connectors.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'router' or m.startswith('router.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], "connectors imported router modules"


def modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name, for its ``__init__``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ``known`` that module ``name`` imports, anywhere in its body.

    An import counts for the most specific module it names (``from router import logs`` is ``router.logs``);
    the packages on the way are not counted, since a package's ``__init__`` that re-exports its own
    submodules is no design cycle.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_modules_of_router_and_connectors_import_each_other_without_a_cycle() -> None:
    known = modules()
    graph = {name: set(imported(name, path, known)) for name, path in known.items()}
    assert "router.cli" in graph and "connectors.base" in graph  # the source was found
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_command_line_imports_the_demo_package() -> None:
    known = modules()
    daemon = [n for n in known if n.startswith("router") and not n.startswith(("router.demo", "router.cli"))]
    users = {n: sorted(m for m in imported(n, known[n], known) if m.startswith("router.demo")) for n in daemon}
    assert {n: found for n, found in users.items() if found} == {}


def test_a_cycle_is_found_and_shown_as_a_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
