"""``plugpay-router trace``: everything that happened to one order, subscription or affiliate, in one answer.

Reads the store only (``-c FILE`` or ``--store URL``; no connector secrets needed) and prints each event
of the object with its rule outcomes, each delivery with its rendered request (secrets masked), every
attempt, and what the destination made of it where the connector says. ``--json`` prints the same for
machines; ``--wide`` prints requests and errors whole.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from router.cli.errors import UserError
from router.cli.store_commands import settings, with_store
from router.secrets import masker
from router.store import Store
from router.text import clip, when
from router.tools.trace import DeliveryTrace, EventTrace, Trace, mask_request, object_kind, trace_event, trace_object

REQUEST_WIDTH = 100


def cmd_trace(args: argparse.Namespace) -> int:
    if args.event is None and (args.kind is None or args.id is None):
        raise UserError("say what to trace: order|subscription|affiliate ID, or --event ID")
    try:
        kind = object_kind(args.kind) if args.kind else ""
    except ValueError as exc:
        raise UserError(str(exc)) from None

    async def work(store: Store) -> Trace | None:
        if args.event is not None:
            return await trace_event(store, args.event)
        return await trace_object(store, kind, str(args.id), args.shop)

    mask = masker(settings(args).secrets)
    trace = asyncio.run(with_store(args, work))
    if trace is None:
        raise UserError(f"no event {args.event}")
    if args.json:
        print(json.dumps(trace.as_dict(mask), indent=2))
        return 0
    if not trace.events:
        print(f"nothing stored about {trace.kind} {trace.ident}")
        return 1
    print(mask("\n".join(lines(trace, wide=args.wide))))
    return 0


def lines(trace: Trace, *, wide: bool = False) -> list[str]:
    """The trace as text, one block per event."""
    count = len(trace.events)
    more = f" (newest {count} of {trace.total})" if trace.total > count else ""
    out = [f"{trace.kind} {trace.ident}: {count} event{'s' if count != 1 else ''}{more}"]
    for event in trace.events:
        out += ["", *_event_lines(event, wide)]
    return out


def _event_lines(trace: EventTrace, wide: bool) -> list[str]:
    r, e = trace.record, trace.record.event
    dup = f", {trace.duplicates} duplicate{'s' if trace.duplicates != 1 else ''}" if trace.duplicates else ""
    out = [
        f"event {r.id}  {e.trigger}  received {when(r.received_at)} via {e.source}"
        f" (Plug&Pay rule {e.rule_id or '-'}{dup})  {r.status}"
    ]
    if r.last_error:
        out.append(f"  error: {clip(r.last_error, 200, wide=wide)}")
    for outcome in r.outcomes or ():
        mark = "matched" if outcome.get("matched") else f"not matched: {outcome.get('reason') or '-'}"
        out.append(f"  rule {outcome.get('rule')}: {mark}")
    if r.outcomes == []:
        out.append("  no rule is about this trigger")
    for delivery in trace.deliveries:
        out += _delivery_lines(delivery, wide)
    return out


def _delivery_lines(trace: DeliveryTrace, wide: bool) -> list[str]:
    d = trace.record
    out = [f"  delivery {d.id}  {d.rule} -> {d.connector}  {d.status}  key {d.delivery_key}"]
    if d.request is not None:
        request = json.dumps(mask_request(d.request), ensure_ascii=False)
        out.append(f"    request: {clip(request, REQUEST_WIDTH, wide=wide)}")
    if d.status == "pending" and d.attempts:
        out.append(f"    next attempt {when(d.next_attempt_at)}")
    if not trace.attempts and d.last_error:
        out.append(f"    error: {clip(d.last_error, 200, wide=wide)}")
    for a in trace.attempts:
        status = f"  {a.status_code}" if a.status_code is not None else ""
        text = f"    attempt {a.number}  {when(a.started_at)}  {a.outcome}{status}  {a.duration_ms:.0f} ms"
        if a.error:
            text += f"  {clip(a.error, 120, wide=wide)}"
        out.append(text)
        if a.result:
            out.append(f"      result: {describe_result(a.result, wide=wide)}")
    return out


def describe_result(result: dict[str, Any], *, wide: bool = False) -> str:
    """``key=value`` pairs of what the destination made of an attempt (lists joined with commas)."""
    parts = []
    for key, value in result.items():
        shown = ",".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key}={clip(str(shown), 80, wide=wide)}")
    return " ".join(parts)
