"""A destination's cookie stays with the answer that set it: no later delivery carries it (against a sink)."""

from __future__ import annotations

from router.demo.standins.sink import HttpSink, Reply
from tests.system.connectors.conftest import build, outgoing


async def test_a_cookie_set_by_a_destination_is_not_sent_with_the_next_delivery() -> None:
    sink = await HttpSink().start()
    sink.replies = [Reply(200, {"ok": True}, {"Set-Cookie": "session=for-delivery-1; Path=/"})]
    # By host name: aiohttp's default jar ignores cookies of an IP address, so 127.0.0.1 would prove nothing.
    base_url = sink.url.replace("127.0.0.1", "localhost")
    connectors = build(f'  hook: {{type: http, base_url: "{base_url}"}}')
    try:
        connector = connectors.get("hook")
        assert connector is not None
        for ident in (1, 2):
            await connector.send(outgoing({"method": "POST", "path": "/orders", "json": {"n": ident}}, ident=ident))
        assert [r.headers.get("Cookie") for r in sink.requests] == [None, None]
    finally:
        await connectors.aclose()
        await sink.stop()
