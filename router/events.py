"""The normalised Plug&Pay event, and the tables that map wire spellings onto Plug&Pay's names.

Plug&Pay's Webhooks V2 payload is thin and only partly documented (the README's "Connect your shop"): the
trigger fields may sit at the top level or under ``event``, ids may be ints or strings, and several
trigger identifiers are only known from third-party receivers. ``normalise`` accepts every shape seen so
far and the legacy V1 form post, and returns one ``Event``; anything it cannot make sense of raises
``PayloadError`` with a message fit for a 400 response. The alias tables live here, in one place.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import structlog

# Plug&Pay's trigger names, as the UI shows them and rules use them.
TRIGGERS = (
    "order_paid",
    "invoice_created",
    "subscription_ended",
    "affiliate_accepted",
    "affiliate_denied",
    "affiliate_quit",
)

# Wire spellings seen (or plausibly sent) for those triggers. Extend here; unknown strings stay literal.
TRIGGER_ALIASES: dict[str, str] = {
    "order_payment_completed": "order_paid",
    "order_paid": "order_paid",
    "payment_completed": "order_paid",
    "order_invoice_created": "invoice_created",
    "invoice_created": "invoice_created",
    "subscription_ended": "subscription_ended",
    "subscription_inactive": "subscription_ended",
    "affiliate_accepted": "affiliate_accepted",
    "affiliate_seller_accepted": "affiliate_accepted",
    "seller_accepted": "affiliate_accepted",
    "affiliate_denied": "affiliate_denied",
    "affiliate_rejected": "affiliate_denied",
    "affiliate_declined": "affiliate_denied",
    "affiliate_seller_declined": "affiliate_denied",
    "affiliate_seller_denied": "affiliate_denied",
    "seller_declined": "affiliate_denied",
    "affiliate_quit": "affiliate_quit",
    "affiliate_stopped": "affiliate_quit",
    "affiliate_seller_stopped": "affiliate_quit",
    "affiliate_seller_quit": "affiliate_quit",
    "seller_stopped": "affiliate_quit",
}

# The three kinds of object a webhook can point at, and the spellings seen for each.
TRIGGERABLE_TYPES: dict[str, str] = {
    "order": "order",
    "orders": "order",
    "invoice": "order",  # "Invoice created" refers to an order: invoices live on orders
    "subscription": "subscription",
    "subscriptions": "subscription",
    "affiliate": "affiliate",
    "affiliates": "affiliate",
    "affiliate_seller": "affiliate",
    "affiliate_sellers": "affiliate",
    "seller": "affiliate",
    "sellers": "affiliate",
}

# When a webhook omits triggerable_type, the trigger tells which object it is about.
TRIGGER_OBJECT: dict[str, str] = {
    "order_paid": "order",
    "invoice_created": "order",
    "subscription_ended": "subscription",
    "affiliate_accepted": "affiliate",
    "affiliate_denied": "affiliate",
    "affiliate_quit": "affiliate",
}


def canonical_trigger(raw: str, aliases: Mapping[str, str] | None = None) -> str:
    """Plug&Pay's name for a wire trigger; unknown strings are kept as they are (lower-cased).

    ``aliases`` (``plugandpay.trigger_aliases``: lower-cased wire name → trigger) extends the built-in table
    and wins over it, so an operator can name a new spelling without a release.
    """
    key = raw.strip().lower()
    if aliases and key in aliases:
        return aliases[key]
    return TRIGGER_ALIASES.get(key, key)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=256)  # a shop sends a handful of spellings, over and over
def canonical_type(raw: str) -> str | None:
    """``order`` / ``subscription`` / ``affiliate`` for a triggerable_type spelling, else None.

    Accepts the spellings in ``TRIGGERABLE_TYPES`` in any case, with ``-`` or spaces for ``_``, and Laravel
    morph class names (``App\\Models\\AffiliateSeller`` → ``affiliate_seller`` → ``affiliate``).
    """
    text = raw.strip().replace("\\", "/").rsplit("/", 1)[-1]
    key = _CAMEL.sub("_", text).lower().replace("-", "_").replace(" ", "_")
    return TRIGGERABLE_TYPES.get(key)


FORM_TYPE = "application/x-www-form-urlencoded"  # legacy V1 webhooks


# Unknown triggers are warned about once per process and spelling, for this many spellings at most.
MAX_UNKNOWN_WARNED = 1000
_unknown_warned: set[str] = set()


def note_unknown_trigger(event: Event, logger: Any = None) -> None:
    """Log, once per process and spelling, a trigger that is not one of Plug&Pay's known names.

    Such a trigger matches rules literally; the line tells the operator to add an alias under
    ``plugandpay.trigger_aliases`` if it is a new spelling of a known trigger. Receive calls it when a webhook
    arrives and route when it routes (an event another instance received), with one set between them, so a
    spelling is warned about once; the set is bounded, since a sender inventing names must not grow it.
    """
    if event.trigger in TRIGGERS or event.trigger in _unknown_warned or len(_unknown_warned) >= MAX_UNKNOWN_WARNED:
        return
    _unknown_warned.add(event.trigger)
    (logger or structlog.get_logger("router.events")).warning(
        "unknown trigger, matching rules literally",
        trigger=event.trigger,
        raw_trigger=event.raw_trigger,
        hint="if it is a spelling of a known trigger, map it in the config: plugandpay.trigger_aliases:"
        f" {{{event.raw_trigger.strip().lower()}: <trigger>}} (known: {', '.join(TRIGGERS)})",
    )


class PayloadError(ValueError):
    """The webhook body is not a Plug&Pay webhook we can store; the message says why."""


@dataclass(frozen=True)
class Event:
    """A received webhook, normalised. ``payload`` is the body as received (parsed)."""

    trigger: str
    raw_trigger: str
    triggerable_type: str  # order | subscription | affiliate, or the raw spelling when unknown
    triggerable_id: str
    tenant_id: str | None = None
    rule_id: str | None = None
    sent_at: str | None = None
    source: str = "v2"  # v2 | v1
    payload: Mapping[str, Any] = field(default_factory=dict)
    shop: str = ""  # the shop it came for (``shops:``); "" in a router of one shop

    @property
    def business_key(self) -> str:
        """One business event: the same order paid, whichever Plug&Pay rule announced it. A named shop's keys
        (and so its dedupe and action keys) start with its name: no shop's event stands for another's."""
        key = "|".join((self.tenant_id or "", self.trigger, self.triggerable_type, self.triggerable_id))
        return f"shop:{self.shop}|{key}" if self.shop else key

    @property
    def dedupe_key(self) -> str:
        """One webhook: the business event as announced by one Plug&Pay rule."""
        raw = f"{self.business_key}|{self.rule_id or ''}"
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def known_type(self) -> bool:
        return self.triggerable_type in ("order", "subscription", "affiliate")


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise PayloadError(f"missing field '{name}'")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(f"field '{name}' must be a string or an integer, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        if required:
            raise PayloadError(f"missing field '{name}'")
        return None
    if len(text) > 200:
        raise PayloadError(f"field '{name}' is too long ({len(text)} characters)")
    return text


# Ids are stored as 64-bit integers by the API; a larger number is no id of it.
MAX_OBJECT_ID = 2**63 - 1


def object_id(value: Any) -> str:
    """An object's id as the Plug&Pay API knows it: a positive whole number, written without leading zeros.

    Every id becomes part of an API path and of dedupe and action keys, whatever brought it (a V2 or V1
    webhook, a list page of reconcile or backfill, an operator): one spelling per object, so ``1042``,
    ``01042`` and ``"1042"`` are one order, and nothing but digits ever reaches a path. ValueError otherwise.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) <= 40:
        number = int(value.strip())
    else:
        raise ValueError(f"an object id is a positive whole number, got {str(value)[:40]!r}")
    if not 0 < number <= MAX_OBJECT_ID:
        raise ValueError(f"an object id is a positive whole number up to {MAX_OBJECT_ID}, got {number}")
    return str(number)


def _ident(value: Any, name: str) -> str:
    if value is None or value == "":
        raise PayloadError(f"missing field '{name}'")
    try:
        return object_id(value)
    except ValueError:
        raise PayloadError(f"field '{name}' must be an object id: a positive whole number") from None


def normalise_json(body: Any, aliases: Mapping[str, str] | None = None) -> Event:
    """A Webhooks V2 JSON body, flat or with the trigger fields nested under ``event``."""
    if not isinstance(body, dict):
        raise PayloadError("the body must be a JSON object")
    inner = body.get("event")
    fields: dict[str, Any] = dict(body)
    if isinstance(inner, dict):
        fields.update({k: v for k, v in inner.items() if v is not None})
    elif inner is not None and "trigger_type" not in body:
        raise PayloadError("field 'event' must be an object")
    raw_trigger = _text(fields.get("trigger_type"), "trigger_type", required=True)
    assert raw_trigger is not None
    trigger = canonical_trigger(raw_trigger, aliases)
    ident = _ident(fields.get("triggerable_id"), "triggerable_id")
    raw_type = _text(fields.get("triggerable_type"), "triggerable_type", required=False)
    kind = _resolve_type(raw_type, trigger)
    return Event(
        trigger=trigger,
        raw_trigger=raw_trigger,
        triggerable_type=kind,
        triggerable_id=ident,
        tenant_id=_text(fields.get("tenant_id"), "tenant_id", required=False),
        rule_id=_text(fields.get("rule_id"), "rule_id", required=False),
        sent_at=_text(fields.get("sent_at"), "sent_at", required=False),
        source="v2",
        payload=body,
    )


def normalise_form(form: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> Event:
    """The legacy V1 "general webhook": form-encoded, ``webhook_event`` plus ``id`` or ``order_id``."""
    raw_trigger = _text(form.get("webhook_event"), "webhook_event", required=True)
    assert raw_trigger is not None
    ident = _ident(form.get("order_id") or form.get("id"), "id")
    trigger = canonical_trigger(raw_trigger, aliases)
    # V1 only ever announced orders (and cancellations, which carry a subscription id).
    kind = TRIGGER_OBJECT.get(trigger, "order")
    # Keep only the identifying fields: V1 posts carry customer data we do not need to store.
    kept = {k: form[k] for k in ("webhook_event", "id", "order_id", "status") if k in form}
    return Event(
        trigger=trigger,
        raw_trigger=raw_trigger,
        triggerable_type=kind,
        triggerable_id=ident,
        source="v1",
        payload=kept,
    )


def parse_body(body: bytes, content_type: str, aliases: Mapping[str, str] | None = None) -> Event:
    """A webhook body (V2 JSON, or a V1 form post) as an Event; PayloadError says what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("the body is not valid UTF-8") from None
    if content_type == FORM_TYPE:
        try:
            form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=100))
        except ValueError as exc:
            raise PayloadError(f"malformed form body: {exc}") from None
        return normalise_form(form, aliases)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"malformed JSON: {exc}") from None
    return normalise_json(data, aliases)


def _resolve_type(raw_type: str | None, trigger: str) -> str:
    if raw_type is not None:
        kind = canonical_type(raw_type)
        if kind is not None:
            return kind
        # Unknown spelling: keep it, so the route stage can report it instead of guessing.
        return TRIGGER_OBJECT.get(trigger, raw_type.lower())
    kind = TRIGGER_OBJECT.get(trigger)
    if kind is None:
        raise PayloadError("missing field 'triggerable_type' (and the trigger does not imply one)")
    return kind


def wire_id(text: str) -> int | str:
    """An id typed by a person as Plug&Pay sends it: a JSON number when it is all digits, else the text."""
    return int(text) if text.isdigit() else text


def webhook_body(
    trigger: str,
    ident: int | str,
    *,
    kind: str | None = None,
    rule_id: int | str | None = None,
    tenant_id: int | str | None = None,
    flat: bool = False,
    sent_at: str | bool = True,
) -> dict[str, Any]:
    """The one Webhooks V2 body builder (the ``trigger`` command, ``simulate``, the demo and the tests).

    The trigger fields are nested under ``event`` as Plug&Pay sends them, or top-level when ``flat``;
    ``triggerable_type`` defaults to the object the trigger implies, and ``ident`` is sent as given (see
    ``wire_id``). ``sent_at`` is the current time when True, the given text, or left out when False.
    """
    event: dict[str, Any] = {
        "trigger_type": trigger,
        "triggerable_type": kind or TRIGGER_OBJECT.get(canonical_trigger(trigger), "order"),
        "triggerable_id": ident,
    }
    envelope: dict[str, Any] = {"rule_id": rule_id, "tenant_id": tenant_id}
    if sent_at is True:
        envelope["sent_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    elif sent_at:
        envelope["sent_at"] = sent_at
    return {**event, **envelope} if flat else {"event": event, **envelope}
