"""``doctor``: check what a real shop needs before (and after) it is pointed at the router.

Each check prints ``ok``, ``warn``, ``skip`` or ``FAIL`` with what it saw, and every failure says what to do.
The checks: the API token (``GET /v2/auth/tenants/me``, and whether stored webhooks carry another tenant),
the includes the rules need (one GET on the most recent stored object of each type), the webhook key
setting, the public webhook URL (a signed self-test the router answers without storing anything), and the
quarantine (webhooks refused in the last 24 hours). Exit 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from router.config import Config, load_shop
from router.events import TRIGGER_OBJECT
from router.inbound import verify
from router.inbound.selftest import selftest_body
from router.plugandpay import RESOURCES, ApiError, ApiRejected, NotFound, PlugAndPayClient, resource_path
from router.store import make_store
from router.store.base import EventRecord, Store, StoreUnavailable

RECENT_EVENTS = 500
REFUSED_WINDOW = 86400.0


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: int = 0

    def add(self, status: str, what: str, todo: str = "") -> None:
        self.lines.append(f"{status:<5} {what}")
        if todo:
            self.lines.append(f"      -> {todo}")
        if status == "FAIL":
            self.failed += 1


async def check_token(report: Report, api: PlugAndPayClient, config: Config, events: list[EventRecord]) -> None:
    where = f"{config.plugandpay.api_url}/v2/auth/tenants/me"
    try:
        tenant = await api.tenant()
    except ApiError as exc:
        report.add(
            "FAIL",
            f"API token: {exc}",
            "create a personal access token in Plug&Pay (Settings > Developers), set plugandpay.api_token"
            f" and check plugandpay.api_url ({where})",
        )
        return
    tenant_id = str(tenant.get("id", ""))
    report.add("ok", f"API token: tenant {tenant.get('name')!r} (id {tenant_id})")
    others = sorted({e.event.tenant_id for e in events if e.event.tenant_id and e.event.tenant_id != tenant_id})
    if others:
        report.add(
            "warn",
            f"stored webhooks carry tenant_id {', '.join(others)}, not {tenant_id}",
            "the token belongs to another shop than the one sending webhooks: use that shop's token",
        )


def needed_includes(config: Config) -> dict[str, tuple[str, ...]]:
    """The object types the rules' triggers fetch, and the extra includes each needs."""
    out: dict[str, tuple[str, ...]] = {}
    for trigger in config.rules.triggers:
        kind = TRIGGER_OBJECT.get(trigger)
        if kind is None:
            continue
        extra = ("checkout",) if kind == "order" and config.rules.needs_checkout(trigger) else ()
        out[kind] = tuple(dict.fromkeys((*out.get(kind, ()), *extra)))
    return out


async def check_includes(report: Report, api: PlugAndPayClient, config: Config, events: list[EventRecord]) -> None:
    for kind, extra in sorted(needed_includes(config).items()):
        newest = next((e for e in events if e.event.triggerable_type == kind), None)
        includes = ",".join((*RESOURCES[kind][1], *extra))
        if newest is None:
            report.add("skip", f"include={includes} on {kind}s: no stored {kind} webhook yet to try it on")
            continue
        ident = newest.event.triggerable_id
        path, _ = resource_path(kind, ident, extra)
        try:
            data, refused = await api.fetch_optional(kind, ident, extra)
        except NotFound:
            report.add("skip", f"include={includes}: {kind} {ident} no longer exists (404)")
            continue
        except ApiRejected as exc:
            report.add("FAIL", f"include={includes}: {exc}", "see the answer above; check plugandpay.api_url")
            continue
        except ApiError as exc:
            report.add("FAIL", f"include={includes}: {exc}", "check plugandpay.api_url and the network")
            continue
        left_out = [name for name in extra if name in refused or name not in data]
        if left_out:
            report.add(
                "FAIL",
                f"GET {path}: the API {'refused' if refused else 'left out'} include {', '.join(left_out)}",
                "rules with checkouts: will not run (outcome 'unknown: checkout not available');"
                " scope them by products: or source_rules: instead",
            )
        else:
            report.add("ok", f"GET {path}?include={includes}")


def check_key(report: Report, config: Config) -> None:
    pp = config.plugandpay
    if not pp.webhook_key:
        report.add(
            "FAIL",
            "plugandpay.webhook_key is not set: webhooks are accepted without verification",
            "copy the webhook key from Plug&Pay (Settings > Developers) into plugandpay.webhook_key",
        )
    else:
        report.add("ok", f"webhook key set (header {pp.signature.header}, {pp.signature.encoding} HMAC-SHA256)")
    if config.server.v1_path:
        report.add("ok", "V1 form webhooks accepted on the secret server.v1_path only")


async def check_url(report: Report, config: Config, url: str) -> None:
    body = selftest_body(secrets.token_hex(8))
    headers = {"Content-Type": "application/json"}
    key = config.plugandpay.webhook_key
    if key:
        headers[config.plugandpay.signature.header] = verify.sign(key, body, config.plugandpay.signature.encoding)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            status, text = response.status, (await response.content.read(2000)).decode(errors="replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        report.add("FAIL", f"{url}: cannot reach it ({type(exc).__name__})", "check the URL, DNS, TLS and firewall")
        return
    if 200 <= status < 300 and '"selftest"' in text:
        report.add("ok", f"{url}: signed self-test answered {status}")
    elif status == 401:
        report.add("FAIL", f"{url}: answered 401", "the router there runs with another webhook key: reload it")
    elif status == 404:
        report.add("FAIL", f"{url}: answered 404", "the path differs from server.path (or a proxy rewrites it)")
    else:
        report.add("FAIL", f"{url}: answered {status} {text[:120]!r}", "it must reach this router's server.path")


async def check_quarantine(report: Report, store: Store) -> None:
    stats = await store.quarantine_stats()
    recent = stats.newest_at is not None and stats.newest_at > time.time() - REFUSED_WINDOW
    if recent:
        report.add(
            "FAIL",
            f"quarantine: {stats.entries} webhook(s) kept after failing verification, the newest"
            f" {round((time.time() - (stats.newest_at or 0)) / 60)} min ago",
            "fix plugandpay.webhook_key / signature, reload the daemon, then `plugpay-router quarantine list`"
            " and `quarantine release`",
        )
    else:
        report.add("ok", f"no webhook refused in the last 24 h ({stats.entries} older kept in the quarantine)")


async def diagnose(config: Config, base: Path, url: str | None) -> Report:
    """Run every check; ``base`` is the config file's folder (relative SQLite paths resolve against it)."""
    report = Report()
    pp = config.plugandpay
    api = PlugAndPayClient(pp.api_url, pp.api_token, timeout=pp.timeout, max_response_bytes=pp.max_response_bytes)
    store: Store | None = make_store(config.store.url, base=base)
    events: list[EventRecord] = []
    try:
        assert store is not None
        await store.open()
        events = await store.list_events(limit=RECENT_EVENTS)
    except StoreUnavailable as exc:
        report.add("FAIL", f"store: {exc}", "check store.url")
        store = None
    try:
        await check_token(report, api, config, events)
        await check_includes(report, api, config, events)
        check_key(report, config)
        if url:
            await check_url(report, config, url)
        if store is not None:
            await check_quarantine(report, store)
    finally:
        await api.aclose()
        if store is not None:
            await store.close()
    return report


def cmd_doctor(args: argparse.Namespace) -> int:
    config = load_shop(args.config, args.shop)
    report = asyncio.run(diagnose(config, Path(args.config).resolve().parent, args.url))
    print("\n".join(report.lines))
    print(f"\n{report.failed} check(s) failed" if report.failed else "\nall checks passed")
    return 1 if report.failed else 0
