"""The state check: the object fetched from the API must agree with the trigger before any action runs.

A webhook only says "order 1042 was paid"; the router believes the API, not the webhook. ``mismatch``
compares the fetched object with what its trigger claims (a paid order for ``order_paid``, an invoice
number for ``invoice_created``, an ended subscription for ``subscription_ended``, the seller's status for
the affiliate triggers) and describes what it saw when they disagree, so a forged, replayed or stale
webhook cannot run an action even without a signature. Plug&Pay may call before its own write is visible,
so the route stage fetches again on the ``plugandpay.state_recheck`` delays before it fails the event with
``state mismatch (...)``; the attempt count lives in the event's last error, so the waits are in the store.
Triggers with no checkable state (``affiliate_quit``, unknown names) always agree. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ENDED_STATUSES = ("ended", "inactive", "cancelled")
RECHECK_PREFIX = "state not yet visible"
_RECHECK = re.compile(rf"^{RECHECK_PREFIX} \(re-check (\d+) of \d+\)")


def _seen(value: Any) -> str:
    return "missing" if value is None else repr(value)


def _order_paid(data: Mapping[str, Any]) -> str | None:
    payment = data.get("payment")
    if not isinstance(payment, Mapping):
        return "the order has no payment in the answer"
    if payment.get("status") == "paid" or payment.get("paid_at"):
        return None
    return f"payment.status is {_seen(payment.get('status'))} and payment.paid_at is {_seen(payment.get('paid_at'))}"


def _invoice_created(data: Mapping[str, Any]) -> str | None:
    return None if data.get("invoice_number") else f"invoice_number is {_seen(data.get('invoice_number'))}"


def _subscription_ended(data: Mapping[str, Any]) -> str | None:
    status = data.get("status")
    return None if status in ENDED_STATUSES else f"status is {_seen(status)}, not one of {', '.join(ENDED_STATUSES)}"


def _seller(wanted: str) -> Callable[[Mapping[str, Any]], str | None]:
    def check(data: Mapping[str, Any]) -> str | None:
        status = data.get("status")
        return None if status == wanted else f"seller status is {_seen(status)}, not {wanted!r}"

    return check


CHECKS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "order_paid": _order_paid,
    "invoice_created": _invoice_created,
    "subscription_ended": _subscription_ended,
    "affiliate_accepted": _seller("accepted"),
    "affiliate_denied": _seller("declined"),
}


def enabled(setting: bool | Mapping[str, bool], trigger: str) -> bool:
    """Whether ``plugandpay.confirm_state`` (a bool, or a bool per trigger, default on) checks ``trigger``."""
    if isinstance(setting, bool):
        return setting
    return setting.get(trigger, True)


def mismatch(trigger: str, data: Mapping[str, Any]) -> str | None:
    """What disagrees with ``trigger`` in the fetched object, or None when the state confirms it."""
    check = CHECKS.get(trigger)
    return None if check is None else check(data)


def rechecks_done(last_error: str | None) -> int:
    """How many state re-checks the event has had (read back from its last error)."""
    found = _RECHECK.match(last_error or "")
    return int(found.group(1)) if found else 0


def recheck_error(number: int, total: int, trigger: str, seen: str) -> str:
    return f"{RECHECK_PREFIX} (re-check {number} of {total}): {trigger}: {seen}"


def failure(trigger: str, seen: str, rechecks: int) -> str:
    after = f", after {rechecks} re-check{'s' if rechecks != 1 else ''}" if rechecks else ""
    return f"state mismatch ({trigger}: {seen}{after})"
