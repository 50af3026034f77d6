"""``reconcile``: one reconcile pass now, as the daemon's loop runs it (``router.shop.reconcile``).

The same watermarks in the store, the same events (``source: reconcile``), the same business-key dedupe and,
on PostgreSQL, the same lock, so the command never runs beside a daemon's pass of the same shop: when the lock
is held it says so and exits 1. A running daemon routes what the pass stored (on PostgreSQL a notice wakes it,
on SQLite its next look for work finds them). ``--dry-run`` lists the same objects, stores nothing and moves
no watermark, and names the objects the pass would store an event for. A config without a ``reconcile:``
section is reconciled with the defaults (``ReconcileConfig``: lookback 72h, grace 10m, the triggers its
rules use that can be derived); the command says so, since the daemon of that config does not reconcile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from router import logs
from router.cli.errors import UserError
from router.config import Config, load_shop
from router.derive import NOT_DERIVABLE, api_time
from router.plugandpay import ApiError, PlugAndPayClient
from router.shop.reconcile import PassReport, Reconciler, TriggerReport
from router.store import StoreUnavailable, make_store
from toolkit.units import format_duration

LISTED_IDS = 20  # object ids a dry run names per trigger; the count is always exact


def cmd_reconcile(args: argparse.Namespace) -> int:
    config = load_shop(args.config, args.shop)
    # The pass's own log lines (a reconcile gap, an object without an id) go to stderr; the report to stdout.
    logs.configure("warning", json=False, stream=sys.stderr)
    logs.set_secrets(config.secrets)
    settings = config.reconcile
    shop = f"shop {config.shop}: " if config.shop else ""
    if not settings.triggers:
        print(f"{shop}nothing to reconcile: {_why_nothing(config)}")
        return 0
    print(
        f"{shop}reconcile {', '.join(settings.triggers)}"
        f" (lookback {format_duration(settings.lookback)}, grace {format_duration(settings.grace)})"
    )
    if not settings.active:
        print(
            "note: the daemon of this config does not reconcile by itself (no reconcile: section, or it is"
            " turned off); this one pass runs anyway"
        )
    report = asyncio.run(_run(config, Path(args.config).resolve().parent, args.dry_run))
    if not report.ran:
        raise UserError(
            f"another reconcile pass of {f'shop {config.shop}' if config.shop else 'this config'} is running (a"
            " daemon or another reconcile command holds its lock on this store): nothing was done; try again once"
            " it has finished"
        )
    for trigger in report.triggers:
        print(_line(trigger, report.dry))
    if report.dry:
        print(f"dry run: {report.missing} events would be stored; nothing stored, the watermarks did not move")
    elif report.found:
        print(f"stored {report.found} missed events (source: reconcile); a running daemon routes them")
    else:
        print("no webhook was missed: nothing stored")
    return 0


async def _run(config: Config, base: Path, dry: bool) -> PassReport:
    store = make_store(config.store.url, base=base)
    try:
        await store.open()
    except StoreUnavailable as exc:
        raise UserError(f"the store cannot be opened: {exc}") from None
    api = PlugAndPayClient.from_settings(config.plugandpay)
    try:
        return await Reconciler(store, lambda: (config, api)).run_pass(dry=dry)
    except ApiError as exc:
        said = str(exc) if str(exc).startswith("Plug&Pay API") else f"Plug&Pay API: {exc}"
        raise UserError(f"{said} (plugandpay.api_url {config.plugandpay.api_url})") from None
    except StoreUnavailable as exc:
        raise UserError(f"the store: {exc}") from None
    finally:
        await api.aclose()
        await store.close()


def _line(trigger: TriggerReport, dry: bool) -> str:
    window = f"{api_time(trigger.since)} to {api_time(trigger.until)} UTC"
    if trigger.until <= trigger.since:
        return f"  {trigger.trigger}: nothing to check (the last pass reached {api_time(trigger.since)} UTC)"
    checked = f"  {trigger.trigger}: {trigger.checked} objects checked ({window})"
    if not dry:
        return f"{checked}, {len(trigger.found)} missed events stored" + _ids([i for i, _ in trigger.found])
    return f"{checked}, {len(trigger.missing)} without an event" + _ids(trigger.missing)


def _ids(ids: list[str]) -> str:
    if not ids:
        return ""
    shown = ", ".join(ids[:LISTED_IDS])
    return f": {shown}" + (f" and {len(ids) - LISTED_IDS} more" if len(ids) > LISTED_IDS else "")


def _why_nothing(config: Config) -> str:
    used = sorted(set(config.rules.triggers) & set(NOT_DERIVABLE))
    if used:
        return f"the rules' triggers cannot be listed from the API ({', '.join(used)})"
    return "no rule uses a trigger whose state the API's lists show (order_paid, invoice_created, ...)"
