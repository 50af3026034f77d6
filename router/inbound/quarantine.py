"""The quarantine: webhooks that failed verification are answered 401 but kept, bounded, until released.

Plug&Pay's signature scheme is not verified from an official source (docs/semantics.md, "The signature"): if the
router's guess or the configured key is wrong, every real webhook fails verification. Dropping them would
lose orders; accepting them would trust anyone. So the receiver answers 401 and keeps the raw body, the
header names and the values of signature-like headers only, within ``quarantine:`` bounds (entries, bytes,
age; oldest dropped) and a per-source-IP rate (``quarantine.per_ip``), so forged traffic cannot fill the
disk. Once the settings are fixed and reloaded, ``release`` verifies each kept body again with the
*current* settings and admits those that pass as normal events (webhook dedupe applies); released entries
are removed, the others stay until they age out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from router.config import Config, webhook_path
from router.events import PayloadError, parse_body
from router.inbound import verify
from router.inbound.stale import is_stale
from router.store.base import QuarantineBounds, Quarantined, QuarantineRecord, Store, StoreUnavailable

log = structlog.get_logger("router.quarantine")

# Header values kept besides names: the configured signature header and anything that looks like one, so a
# body can be verified again after the header name is corrected.
SIGNATURE_WORDS = ("signature", "hmac", "sign", "digest")
MAX_SIGNATURE_VALUE = 512
MAX_TRACKED_IPS = 10_000


def signature_headers(headers: dict[str, str], configured: str) -> dict[str, str]:
    wanted = configured.lower()
    return {
        name: value[:MAX_SIGNATURE_VALUE]
        for name, value in headers.items()
        if name.lower() == wanted or any(word in name.lower() for word in SIGNATURE_WORDS)
    }


@dataclass
class IpRate:
    """A token bucket per source address; the table is bounded (emptied when it grows past its cap)."""

    count: float
    per: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, ip: str, now: float) -> bool:
        if len(self._buckets) >= MAX_TRACKED_IPS and ip not in self._buckets:
            self._buckets.clear()
        tokens, last = self._buckets.get(ip, (self.count, now))
        tokens = min(self.count, tokens + (now - last) * self.count / self.per)
        if tokens < 1:
            self._buckets[ip] = (tokens, now)
            return False
        self._buckets[ip] = (tokens - 1, now)
        return True


class Quarantine:
    """The receiver's side: keep a refused webhook, unless its sender is over its rate."""

    def __init__(self, store: Store, config: Callable[[], Config], observe: Callable[[str], None] | None = None):
        self.store = store
        self.config = config
        self.observe = observe or (lambda outcome: None)
        self._rate: IpRate | None = None

    def _limiter(self, config: Config) -> IpRate:
        per_ip = config.quarantine.per_ip
        if self._rate is None or (self._rate.count, self._rate.per) != (per_ip.count, per_ip.per):
            self._rate = IpRate(per_ip.count, per_ip.per)
        return self._rate

    async def keep(self, request: web.Request, body: bytes) -> int | None:
        """The id of the kept entry, or None when the sender is over its rate or the store is unavailable."""
        config = self.config()
        now = time.time()
        if not self._limiter(config).allow(request.remote or "", now):
            self.observe("rate_limited")
            return None
        entry = Quarantined(
            received_at=now,
            remote=request.remote,
            path=request.path,
            content_type=request.content_type,
            header_names=sorted(request.headers.keys()),
            signatures=signature_headers(dict(request.headers), config.plugandpay.signature.header),
            body=body,
        )
        bounds = QuarantineBounds(
            config.quarantine.max_entries, config.quarantine.max_bytes, now - config.quarantine.max_age
        )
        try:
            kept = await self.store.quarantine_add(entry, bounds)
        except StoreUnavailable as exc:
            log.warning("webhook not quarantined, store unavailable", error=str(exc))
            self.observe("store_unavailable")
            return None
        self.observe("kept")
        return kept


def reverify(config: Config, entry: QuarantineRecord) -> bool:
    """Whether a kept body passes verification under the current settings."""
    wanted = config.plugandpay.signature.header.lower()
    value = next((v for name, v in entry.signatures.items() if name.lower() == wanted), None)
    return verify.admits(config.plugandpay.webhook_key, config.plugandpay.allow_unsigned, entry.body, value)


@dataclass
class Released:
    admitted: list[tuple[int, int, bool]] = field(default_factory=list)  # (entry id, event id, duplicate)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # verified, but not a webhook: dropped
    still_failing: list[int] = field(default_factory=list)


class UnsignedRelease(Exception):
    """``release`` with ``allow_unsigned: true`` would admit every kept entry, forged ones included."""


async def release(store: Store, config: Config, *, unsigned: bool = False, batch: int = 100) -> Released:
    """Verify every kept entry again with ``config``; admit and remove those that pass.

    With ``plugandpay.allow_unsigned: true`` every body "verifies", so the whole quarantine (forgeries and
    all) would become events: that takes ``unsigned=True``, said on purpose, or raises ``UnsignedRelease``.
    """
    if config.plugandpay.allow_unsigned and not unsigned:
        raise UnsignedRelease(
            "plugandpay.allow_unsigned is true, so releasing would admit every kept webhook, forged ones"
            " included: set plugandpay.webhook_key to check them, or pass --unsigned to admit them all on purpose"
        )
    result = Released()
    after = 0
    window = config.retention.dedupe_window
    while True:
        entries = await store.quarantine_list(after_id=after, limit=batch)
        if not entries:
            return result
        done: list[int] = []
        for entry in entries:
            after = entry.id
            if config.shop and entry.path != webhook_path(config):
                continue  # another shop's: released with its own key (``--shop``)
            if not reverify(config, entry):
                result.still_failing.append(entry.id)
                continue
            try:
                event = parse_body(entry.body, entry.content_type.lower(), config.plugandpay.trigger_aliases)
                event = dataclasses.replace(event, shop=config.shop)
            except PayloadError as exc:
                result.invalid.append((entry.id, str(exc)))
                done.append(entry.id)
                continue
            now = time.time()
            stale = is_stale(event.sent_at, now - window)
            accepted = await store.add_event(event, dedupe_window=window, now=now, stale=stale)
            result.admitted.append((entry.id, accepted.event_id, accepted.duplicate))
            done.append(entry.id)
        if done:
            await store.quarantine_remove(done)
