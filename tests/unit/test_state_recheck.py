"""State re-checks in process (``Router.handle``, with a stand-in store and API): while the fetched order is not
yet paid, the n-th re-check waits the n-th delay of ``plugandpay.state_recheck``, and after the last one the
event fails with the state mismatch; no delivery is made meanwhile."""

from __future__ import annotations

import time
from typing import Any

from router.config import parse_config
from router.routing.route import Router
from router.store.base import EventRecord
from tests.rules_support import event, order

CONFIG = parse_config(
    """version: 1
plugandpay:
  api_url: "http://127.0.0.1:9"
  api_token: "pp-token-1234"
  webhook_key: "rules-test-key-1234"
  state_recheck: [1s, 5s, 30s]
store: {url: "sqlite:///unused.db"}
connectors: {sink: {type: http, base_url: "http://127.0.0.1:9"}}
rules:
  - {name: welcome, trigger: order_paid, actions: [{connector: sink, path: /welcome}]}
""",
    "recheck.yaml",
    {},
)


class Api:
    """Plug&Pay before its own write is visible: order 1042 is still open."""

    async def fetch_optional(self, kind: str, ident: str, extra: tuple[str, ...] = ()) -> tuple[dict, tuple]:
        unpaid = order()
        unpaid["payment"].update(status="open", paid_at=None)
        return unpaid, ()


class Store:
    """Records what the route stage decided about the event."""

    def __init__(self) -> None:
        self.retries: list[tuple[float, str]] = []  # (seconds from the call, error)
        self.failed: list[str] = []
        self.routed = 0

    async def retry_event(self, event_id: int, owner: str, at: float, error: str) -> None:
        self.retries.append((at - time.time(), error))

    async def fail_event(self, event_id: int, owner: str, error: str, now: float) -> None:
        self.failed.append(error)

    async def complete_route(self, *args: Any) -> int:
        self.routed += 1
        return 0


async def test_each_state_recheck_waits_its_own_delay_then_the_event_fails() -> None:
    assert CONFIG.plugandpay.state_recheck == (1.0, 5.0, 30.0)
    store = Store()
    router = Router(store, lambda: (CONFIG, Api()), "me", on_routed=lambda: None)  # type: ignore[arg-type]
    record = EventRecord(id=7, event=event("order_paid", 1042), status="routing", received_at=time.time())
    for _ in range(4):  # the first try and three re-checks, each reading back the error the last one left
        await router.handle(record)
        record.last_error = store.retries[-1][1] if store.retries else None
    waits = [round(seconds) for seconds, _ in store.retries]
    assert waits == [1, 5, 30]
    assert [error.split(":")[0] for _, error in store.retries] == [
        "state not yet visible (re-check 1 of 3)",
        "state not yet visible (re-check 2 of 3)",
        "state not yet visible (re-check 3 of 3)",
    ]
    assert store.failed == [
        "state mismatch (order_paid: payment.status is 'open' and payment.paid_at is missing, after 3 re-checks)"
    ]
    assert store.routed == 0
