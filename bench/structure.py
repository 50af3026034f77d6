"""Structure figures of a checkout: modules, import edges, imports that run back up, and one webhook's trip.

Static figures come from the source with ``ast`` (the same graph the layout test checks,
``tests/unit/test_architecture.py``): modules of ``router``, ``connectors`` and ``toolkit``, modules directly
in ``router/``, import edges between modules, rooms (a folder of ``router`` or one of its top-level modules;
``connectors`` and ``toolkit`` whole) and the imports between rooms that close a loop (an import running back
up the layers). ``--trip`` also counts the modules whose code runs while one webhook goes from arrival to
delivery: it starts the checkout's daemon (``DIR/.venv/bin/python`` if there is one) under a profile hook
with the local Plug&Pay sandbox and an HTTP sink, clears what startup ran once the daemon is ready, sends
one signed webhook, waits for its delivery and reads the modules whose functions were called meanwhile
(the idle claim loops included, as they are part of the trip)::

    python -m bench.structure [--repo DIR] [--trip]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from bench.common import KEY, body, machine
from tests.unit.test_architecture import PACKAGES, find_cycle, import_graph, room, room_graph

# Runs inside the daemon's interpreter: record which modules of the packages have their functions called;
# SIGUSR1 forgets what startup ran, SIGUSR2 writes what ran since to the file named by STRUCTURE_TRIP.
_HOOK = """
import os, runpy, signal, sys, threading
seen = set()
roots = ('router', 'connectors', 'toolkit')
def hook(frame, event, arg):
    if event == 'call':
        name = frame.f_globals.get('__name__', '')
        if name.split('.')[0] in roots:
            seen.add(name)
def forget(*_):
    seen.clear()
def dump(*_):
    with open(os.environ['STRUCTURE_TRIP'], 'w') as out:
        out.write('\\n'.join(sorted(seen)))
signal.signal(signal.SIGUSR1, forget)
signal.signal(signal.SIGUSR2, dump)
threading.setprofile(hook)
sys.setprofile(hook)
sys.argv = ['router', 'serve', '-c', sys.argv[1]]
runpy.run_module('router', run_name='__main__')
"""


def loops(rooms: dict[str, set[str]]) -> list[tuple[str, str]]:
    """The imports between rooms that close a loop: both rooms reach each other."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in rooms.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {name: reach(name) for name in rooms}
    return sorted((a, b) for a, targets in rooms.items() for b in targets if a in reachable.get(b, set()))


def static_figures(repo: Path) -> dict[str, object]:
    packages = tuple(p for p in PACKAGES if (repo / p).is_dir())
    graph = import_graph(repo, packages)
    rooms = room_graph(graph)
    back_up = loops(rooms)
    return {
        "packages": list(packages),
        "modules": len(graph),
        "directly in router/": len([p for p in (repo / "router").glob("*.py") if p.name != "__init__.py"]),
        "import edges": sum(len(targets) for targets in graph.values()),
        "rooms": len(rooms),
        "imports between rooms": sum(len(targets) for targets in rooms.values()),
        "imports back up (room loops)": len(back_up),
        "which": [f"{a} -> {b}" for a, b in back_up],
        "module cycle": find_cycle(graph),
        "rooms one module's imports reach at most": max(len({room(t) for t in ts}) for ts in graph.values()),
    }


async def trip(repo: Path) -> list[str]:
    """The modules whose functions run while one webhook is received, routed and delivered."""
    from router.demo.sandbox import Sandbox, SandboxServer, load_fixtures
    from router.demo.standins.sink import HttpSink

    python = repo / ".venv" / "bin" / "python"
    python = python if python.exists() else Path(sys.executable)
    sandbox = await SandboxServer(Sandbox(load_fixtures())).start()
    sink = await HttpSink().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port = _free_port()
            config = Path(tmp) / "c.yaml"
            config.write_text(
                "version: 1\n"
                f'server: {{listen: "127.0.0.1:{port}"}}\n'
                f"plugandpay: {{api_url: {sandbox.url}, api_token: t, webhook_key: {KEY}}}\n"
                f'store: {{url: "sqlite:///{tmp}/router.db"}}\n'
                f"connectors: {{sink: {{type: http, base_url: {sink.url}}}}}\n"
                "rules:\n"
                "  - {name: r, trigger: order_paid, actions: [{connector: sink, method: POST, path: /x,"
                ' json: {id: "{{ order.id }}"}}]}\n',
                encoding="utf-8",
            )
            out = Path(tmp) / "trip.txt"
            env = {**os.environ, "STRUCTURE_TRIP": str(out), "PYTHONPATH": str(repo)}
            proc = await asyncio.create_subprocess_exec(
                str(python),
                "-c",
                _HOOK,
                str(config),
                cwd=repo,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await _ready(f"http://127.0.0.1:{port}/readyz")
                proc.send_signal(signal.SIGUSR1)
                await asyncio.sleep(0.5)  # the signal handler runs between bytecodes: give it a moment
                await _post(f"http://127.0.0.1:{port}/webhooks/plugandpay", body(1042))
                await sink.wait_for(1, timeout=30)
                await asyncio.sleep(0.5)  # the delivery's attempt is recorded after the sink answered
                proc.send_signal(signal.SIGUSR2)
                for _ in range(100):
                    if out.exists() and out.stat().st_size:
                        break
                    await asyncio.sleep(0.05)
                return out.read_text(encoding="utf-8").split()
            finally:
                proc.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 15)
    finally:
        await sink.stop()
        await sandbox.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _ready(url: str) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the daemon did not get ready at {url}")


async def _post(url: str, content: bytes) -> None:
    import httpx

    from router.inbound import verify

    headers = {"Content-Type": "application/json", "X-Signature": verify.sign(KEY, content)}
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(url, content=content, headers=headers)
        answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--trip", action="store_true", help="also run one webhook through the daemon")
    args = parser.parse_args()
    print(f"# {machine()}")
    figures = static_figures(args.repo.resolve())
    if args.trip:
        modules = asyncio.run(trip(args.repo.resolve()))
        figures["modules one webhook passes"] = len(modules)
        figures["rooms one webhook passes"] = len({room(m) for m in modules})
        figures["trip"] = modules
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
