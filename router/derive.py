"""Which triggers an object's state implies, and how to list the objects that may have fired one in a window.

Reconcile and backfill read the past from Plug&Pay's list endpoints (research notes §2.2 and §8: the
filters come from the official SDK and are unverified against the live API). For each derivable trigger
this module knows the list path and query for a time window, whether a listed object is in the state the
trigger announces (a paid order for ``order_paid``, an order with an invoice number for
``invoice_created``, an ended or inactive subscription for ``subscription_ended``, an accepted or
declined seller for ``affiliate_accepted``/``affiliate_denied``), and when that state began. An object
whose time cannot be read from its own fields is left out: a filter the server might ignore must not
turn every old seller into a new event. ``affiliate_quit`` cannot be derived: a seller who left keeps no
state the API shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from router.events import TRIGGER_OBJECT


def api_time(ts: float) -> str:
    """``Y-m-d H:i:s`` in UTC, as the SDK's ``since_paid_at`` filter takes it."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def api_day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an API time (ISO 8601 with or without ``Z``, ``Y-m-d H:i:s`` or ``Y-m-d``; naive = UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _field(obj: Mapping[str, Any], *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


@dataclass(frozen=True)
class Derivation:
    """How one trigger shows in the lists. ``day`` windows are compared by calendar day (UTC)."""

    trigger: str
    path: str
    queries: Callable[[float, float], list[dict[str, str]]]
    holds: Callable[[Mapping[str, Any]], bool]
    began: Callable[[Mapping[str, Any]], float | None]
    day: bool = False
    state_include: str = ""  # the include that carries the state and its time (``payment`` for paid_at)

    @property
    def kind(self) -> str:
        return TRIGGER_OBJECT[self.trigger]

    def in_window(self, obj: Mapping[str, Any], since: float, until: float, *, undated: bool = False) -> bool:
        """The object is in the trigger's state, and that state began in ``[since, until)``; an object that
        shows no time for it counts as ``undated`` says (reconcile: no; an operator's backfill: yes, the
        server's own window filter stands)."""
        if not self.holds(obj):
            return False
        began = self.began(obj)
        if began is None:
            return undated
        if self.day:
            return api_day(since) <= api_day(began) <= api_day(until)
        return since <= began < until


def _paid(obj: Mapping[str, Any]) -> bool:
    return bool(_field(obj, "payment", "status") == "paid")


def _later_of(*paths: tuple[str, ...]) -> Callable[[Mapping[str, Any]], float | None]:
    def began(obj: Mapping[str, Any]) -> float | None:
        for path in paths:
            found = parse_time(_field(obj, *path))
            if found is not None:
                return found
        return None

    return began


def _seller_queries(status: str) -> Callable[[float, float], list[dict[str, str]]]:
    return lambda since, until: [{"status[]": status, "since": api_day(since), "until": api_day(until)}]


DERIVATIONS: dict[str, Derivation] = {
    "order_paid": Derivation(
        "order_paid",
        "/v2/orders",
        lambda since, until: [
            {
                "payment_status": "paid",
                "since_paid_at": api_time(since),
                "until_paid_at": api_time(until),
                "sort": "paid_at",
                "direction": "asc",
            }
        ],
        _paid,
        _later_of(("payment", "paid_at")),
        state_include="payment",
    ),
    "invoice_created": Derivation(
        "invoice_created",
        "/v2/orders",
        lambda since, until: [
            {
                "since_invoice_date": api_day(since),
                "until_invoice_date": api_day(until),
                "sort": "invoice_date",
                "direction": "asc",
            }
        ],
        lambda obj: bool(obj.get("invoice_number")),
        _later_of(("invoice_date",)),
        day=True,
    ),
    # No "ended since" filter exists: list the ended and inactive ones (one status per query, in case the
    # server takes only one) and compare their own times.
    "subscription_ended": Derivation(
        "subscription_ended",
        "/v2/subscriptions",
        lambda since, until: [{"status": "ended"}, {"status": "inactive"}],
        lambda obj: obj.get("status") in ("ended", "inactive"),
        _later_of(("cancelled_at",), ("updated_at",)),
    ),
    "affiliate_accepted": Derivation(
        "affiliate_accepted",
        "/v2/affiliates/sellers",
        _seller_queries("accepted"),
        lambda obj: obj.get("status") == "accepted",
        _later_of(("updated_at",), ("created_at",)),
    ),
    "affiliate_denied": Derivation(
        "affiliate_denied",
        "/v2/affiliates/sellers",
        _seller_queries("declined"),
        lambda obj: obj.get("status") == "declined",
        _later_of(("updated_at",), ("created_at",)),
    ),
}
NOT_DERIVABLE = {"affiliate_quit": "a seller who left keeps no state the API shows; only its webhook tells"}
