"""The layout's rules, checked on the source, so the tree keeps reading as the architecture.

``toolkit`` imports neither ``router`` nor ``connectors``; ``connectors`` never imports ``router``; opening
the store loads no connector; only the command line imports ``router.demo``. The modules import each other
without a cycle, function-level imports included (a deferred import hides a cycle from Python, not from the
design), and so do the rooms: a folder of ``router`` (``inbound``, ``routing``, ...) or one of its top-level
modules, ``connectors`` and ``toolkit`` each count as one room, and an import between rooms that closes a
loop is an import running back up the layers. No module is over 400 lines, at most 15 modules stand
directly in ``router/``, and every package says in its ``__init__`` docstring what lives there. The graph is
built from the source with ``ast``, so every module counts, whether or not a test happens to import it;
``python -m bench.structure`` prints the same figures.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("router", "connectors", "toolkit")
MAX_LINES = 400
MAX_TOP_MODULES = 15


def modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name, for its ``__init__``)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ``known`` that module ``name`` imports, anywhere in its body.

    An import counts for the most specific module it names: ``from router import logs`` is ``router.logs``
    (a submodule imported from its package is an edge to the submodule), ``from router.config import Config``
    is ``router.config``, the package's ``__init__``, so a loop through an ``__init__`` is a cycle too. The
    packages merely passed on the way are not counted: every package's ``__init__`` runs first, but one that
    re-exports its own submodules is no design cycle.
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


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    return {name: set(targets) for name, targets in _graph(root, packages).items()}


@functools.lru_cache(maxsize=8)  # several tests read the same source: parse it once per run
def _graph(root: Path, packages: tuple[str, ...]) -> dict[str, frozenset[str]]:
    known = modules(root, packages)
    return {name: frozenset(imported(name, path, known)) for name, path in known.items()}


def room(module: str) -> str:
    """The room a module stands in: a folder of ``router`` or one of its top-level modules; other packages whole."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "router" else parts[0]


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for name, targets in graph.items():
        rooms.setdefault(room(name), set()).update(room(t) for t in targets if room(t) != room(name))
    return rooms


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
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


def imports_of_a_fresh_interpreter(statement: str) -> list[str]:
    """The modules of ``router``, ``connectors``, ``toolkit`` and ``aiosmtplib`` loaded by ``statement``."""
    script = (
        "import json, sys\n"
        f"{statement}\n"
        "roots = ('router', 'connectors', 'toolkit', 'aiosmtplib')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_importing_every_connector_imports_no_router_module() -> None:
    loaded = imports_of_a_fresh_interpreter(
        "import importlib, pkgutil, connectors\n"
        "for info in pkgutil.walk_packages(connectors.__path__, 'connectors.'):\n"
        "    importlib.import_module(info.name)"
    )
    assert "connectors.email" in loaded  # the walk did import the connectors
    assert [m for m in loaded if m.split(".")[0] == "router"] == []


def test_the_toolkit_imports_neither_router_nor_a_connector() -> None:
    loaded = imports_of_a_fresh_interpreter(
        "import importlib, pkgutil, toolkit\n"
        "for info in pkgutil.walk_packages(toolkit.__path__, 'toolkit.'):\n"
        "    importlib.import_module(info.name)"
    )
    assert "toolkit.client" in loaded
    assert [m for m in loaded if m.split(".")[0] != "toolkit"] == []


@pytest.mark.parametrize("store", ["router.store", "router.store.sqlite", "router.store.postgres"])
def test_opening_the_store_loads_no_connector(store: str) -> None:
    loaded = imports_of_a_fresh_interpreter(f"import {store}")
    assert store in loaded
    assert [m for m in loaded if m.split(".")[0] in ("connectors", "aiosmtplib")] == []


def test_the_modules_import_each_other_without_a_cycle() -> None:
    graph = import_graph()
    assert "router.cli" in graph and "connectors.base" in graph and "toolkit.client" in graph  # the source was found
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_runs_back_up_the_layers() -> None:
    rooms = room_graph(import_graph())
    assert {"router.inbound", "router.routing", "router.delivery", "connectors", "toolkit"} <= rooms.keys()
    cycle = find_cycle(rooms)
    assert cycle is None, "rooms that import each other in a loop: " + " -> ".join(cycle or [])


def test_only_the_command_line_imports_the_demo_package() -> None:
    graph = import_graph()
    daemon = [n for n in graph if n.startswith("router") and not n.startswith(("router.demo", "router.cli"))]
    users = {n: sorted(m for m in graph[n] if m.startswith("router.demo")) for n in daemon}
    assert {n: found for n, found in users.items() if found} == {}


def test_no_module_is_over_400_lines() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_at_most_15_modules_stand_directly_in_router() -> None:
    top = sorted(p.name for p in (ROOT / "router").glob("*.py") if p.name != "__init__.py")
    assert "daemon.py" in top
    assert len(top) <= MAX_TOP_MODULES, top


def test_every_package_says_what_lives_in_it() -> None:
    undocumented = [
        name
        for name, path in modules().items()
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert undocumented == []


def test_a_cycle_is_found_and_shown_as_a_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_cycle_through_a_package_init_is_found(tmp_path: Path) -> None:
    # The package's __init__ imports a submodule, which imports a name from the package's __init__.
    write_tree(
        tmp_path,
        {"pkg/__init__.py": "from pkg.a import thing\nhelper = 1\n", "pkg/a.py": "from pkg import helper\nthing = 2\n"},
    )
    assert find_cycle(import_graph(tmp_path, ("pkg",))) == ["pkg", "pkg.a", "pkg"]


def test_a_submodule_imported_from_its_package_is_an_edge_to_the_submodule(tmp_path: Path) -> None:
    write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "from pkg import a\n"})
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


def test_rooms_that_import_each_other_are_a_loop_even_without_a_module_cycle(tmp_path: Path) -> None:
    # router/config/source <- router/templates <- router/config/rules: no module cycle, but the rooms loop.
    write_tree(
        tmp_path,
        {
            "router/__init__.py": "",
            "router/config/__init__.py": "",
            "router/config/source.py": "",
            "router/config/rules.py": "from router import templates\n",
            "router/templates.py": "from router.config.source import suggest\n",
        },
    )
    graph = import_graph(tmp_path, ("router",))
    assert find_cycle(graph) is None
    assert find_cycle(room_graph(graph)) == ["router.config", "router.templates", "router.config"]


def test_the_container_image_and_the_package_hold_every_top_level_package() -> None:
    # A package the Dockerfile does not copy, or pyproject does not include, is missing from the image.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for package in PACKAGES:
        assert f"COPY {package} ./{package}" in dockerfile, package
        assert f'"{package}*"' in pyproject, package
