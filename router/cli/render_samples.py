"""Where ``check --render`` gets its samples: the sandbox's fixtures, recorded objects, or the shop's API.

Fixtures and recorded objects are served by the Plug&Pay sandbox in this process, so every sample is
fetched exactly as the daemon fetches an object (the same client, the same includes, relations absent
unless included). ``--data DIR`` takes the sandbox's fixture files (``orders.json``,
``subscriptions.json``, ``sellers.json``: ``{"1042": {...}}``) and/or one file per object
(``orders/1042.json``, holding the object or the API's ``{"data": {...}}`` answer). ``--live`` lists the
newest objects of each kind from the configured API and fetches them: read-only GETs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from router.config import Config
from router.demo.sandbox import RELATIONS, Sandbox, SandboxServer, load_fixtures
from router.plugandpay import RESOURCES, ApiError, PlugAndPayClient
from router.routing.route import extra_includes
from router.tools.render_check import FIXTURE_KINDS, Sample, trigger_of
from router.tools.simulate import SimulateError, data_from_body, event_from_args

LIVE_LIMIT = 3


class RenderCheckError(Exception):
    """The samples could not be read or fetched; the message says which and why."""


def read_data_dir(folder: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Fixtures from ``folder``: ``orders.json`` (``{"1042": {...}}``) and/or ``orders/1042.json`` files."""
    root = Path(folder)
    if not root.is_dir():
        raise RenderCheckError(f"--data {folder}: not a folder (expected orders.json or orders/1042.json inside)")
    try:
        fixtures = load_fixtures(root)
    except (OSError, ValueError, AttributeError) as exc:
        raise RenderCheckError(f"--data {folder}: a fixture file is not a JSON object of id -> object: {exc}") from None
    for name in RELATIONS:
        for path in sorted((root / name).glob("*.json")) if (root / name).is_dir() else []:
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                fixtures[name][path.stem] = {"id": path.stem, **data_from_body(body, str(path))}
            except (OSError, ValueError) as exc:
                raise RenderCheckError(f"{path}: not a JSON file: {exc}") from None
            except SimulateError as exc:
                raise RenderCheckError(str(exc)) from None
    if not any(fixtures.values()):
        raise RenderCheckError(
            f"--data {folder}: no objects found (expected orders.json, subscriptions.json, sellers.json"
            " or folders orders/, subscriptions/, sellers/ with one JSON file per object)"
        )
    return fixtures


async def fetch_samples(
    config: Config, kinds: set[str], fixtures: dict[str, dict[str, dict[str, Any]]] | None, limit: int = LIVE_LIMIT
) -> list[Sample]:
    """Every sample of ``kinds``, fetched the way the daemon fetches: from a local sandbox serving
    ``fixtures``, or (None) from the configured API, newest ``limit`` objects of each kind."""
    server = await SandboxServer(Sandbox(fixtures)).start() if fixtures is not None else None
    base = server.url if server is not None else config.plugandpay.api_url
    token = None if server is not None else config.plugandpay.api_token
    client = PlugAndPayClient(base, token, timeout=config.plugandpay.timeout)
    samples = []
    try:
        for kind in [k for k in FIXTURE_KINDS if k in kinds]:
            if fixtures is not None:
                idents = list(fixtures.get(FIXTURE_KINDS[kind], {}))
            else:
                idents = await newest_ids(client, kind, limit)
            for ident in idents:
                event = event_from_args(trigger_of(kind), ident)
                try:
                    data = await client.fetch(kind, ident, extra_includes(event, config))
                except ApiError as exc:
                    raise RenderCheckError(f"cannot fetch {kind} {ident}: {exc}") from None
                samples.append(Sample(kind, ident, data))
    finally:
        await client.aclose()
        if server is not None:
            await server.stop()
    return samples


async def newest_ids(client: PlugAndPayClient, kind: str, limit: int) -> list[str]:
    """The ids of the first ``limit`` objects the API lists (one read-only GET)."""
    path = RESOURCES[kind][0].removesuffix("/{id}")
    timeout = aiohttp.ClientTimeout(total=client.timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=client.headers) as session,
            session.get(client.base_url + path, params={"limit": str(limit)}, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise RenderCheckError(f"--live: GET {path} answered {response.status}: check plugandpay.api_token")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RenderCheckError(f"--live: GET {path} failed: {type(exc).__name__} {exc}") from None
    rows = body.get("data") if isinstance(body, dict) else None
    return [str(row["id"]) for row in rows or [] if isinstance(row, dict) and "id" in row][:limit]
