"""``quarantine list`` and ``quarantine release``: the webhooks that failed verification, kept by the daemon.

``list`` shows what was kept (when, from where, which headers, whether it now verifies); ``release`` verifies
each entry again with the config file's *current* settings and stores those that pass as normal events
(webhook dedupe applies, so a webhook Plug&Pay also retried is stored once). A running daemon routes them
at its next poll. Neither needs connector secrets or a running daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from router.cli.errors import UserError
from router.cli.output import table
from router.config import Config, load_shop, require
from router.events import PayloadError, parse_body
from router.inbound import quarantine
from router.store import Store, make_store
from router.store.base import QuarantineRecord
from router.text import when


async def _open(config: Config, base: Path) -> Store:
    store = make_store(config.store.url, base=base, create=False)
    await store.open()
    return store


async def _all(store: Store) -> list[QuarantineRecord]:
    found: list[QuarantineRecord] = []
    while batch := await store.quarantine_list(after_id=found[-1].id if found else 0, limit=500):
        found.extend(batch)
    return found


def _about(config: Config, entry: QuarantineRecord) -> str:
    try:
        event = parse_body(entry.body, entry.content_type.lower(), config.plugandpay.trigger_aliases)
    except PayloadError as exc:
        return f"not a webhook: {exc}"[:60]
    return f"{event.trigger} {event.triggerable_type}:{event.triggerable_id}"


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    config = load_shop(args.config, args.shop, offline=True)  # the key is used only to say whether entries verify now
    require(config, "store")
    base = Path(args.config).resolve().parent
    unset_key = [p for p in config.unset if p.path.startswith("plugandpay.webhook_key")]
    for problem in unset_key:
        print(f"note: {problem}: whether each entry verifies now is not known", file=sys.stderr)

    def verifies(entry: QuarantineRecord) -> bool | None:
        return None if unset_key else quarantine.reverify(config, entry)

    async def work() -> list[QuarantineRecord]:
        store = await _open(config, base)
        try:
            return await _all(store)
        finally:
            await store.close()

    entries = asyncio.run(work())
    if args.json:
        out = [{**e.as_dict(), "verifies_now": verifies(e)} for e in entries]
        print(json.dumps(out, indent=2))
        return 0
    rows = [
        (
            e.id,
            when(e.received_at),
            e.remote,
            len(e.body),
            {True: "yes", False: "no", None: "unknown"}[verifies(e)],
            ",".join(sorted(e.signatures)) or "none",
            _about(config, e),
        )
        for e in entries
    ]
    print(table(rows, ("id", "received", "from", "bytes", "verifies_now", "signature_headers", "webhook")))
    passing = sum(1 for row in rows if row[4] == "yes")
    print(f"\n{len(entries)} kept, {passing} pass verification with the current settings", end="")
    print(" (run `quarantine release` to admit them)" if passing else "")
    return 0


def cmd_quarantine_release(args: argparse.Namespace) -> int:
    config = load_shop(args.config, args.shop)
    base = Path(args.config).resolve().parent

    async def work() -> quarantine.Released:
        store = await _open(config, base)
        try:
            return await quarantine.release(store, config, unsigned=args.unsigned)
        finally:
            await store.close()

    try:
        result = asyncio.run(work())
    except quarantine.UnsignedRelease as exc:
        raise UserError(str(exc)) from None
    for entry_id, event_id, duplicate in result.admitted:
        print(f"released {entry_id} -> event {event_id}" + (" (duplicate of a stored webhook)" if duplicate else ""))
    for entry_id, reason in result.invalid:
        print(f"dropped {entry_id}: verified, but not a webhook: {reason}")
    new = sum(1 for _, _, duplicate in result.admitted if not duplicate)
    print(
        f"{len(result.admitted)} released ({new} new events), {len(result.invalid)} dropped,"
        f" {len(result.still_failing)} still fail verification and stay in the quarantine"
    )
    return 0
