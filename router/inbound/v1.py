"""Legacy V1 "general webhooks": unsigned form posts, accepted only on a secret path.

Plug&Pay's V1 webhook is ``application/x-www-form-urlencoded`` with no signature (docs/semantics.md and
the README's "Connect your shop"), so nothing in the request proves where it came from. The router accepts it only on
``server.v1_path``, a URL whose last segment is a long random token that only the shop knows; anywhere else
it is 404, and on the signed V2 path a form post is refused (415). A V1 event is then treated like any other:
its order is fetched from the API by id and must pass the state check (``router.routing.state_check``) before an action
runs, so a guessed or replayed V1 post is harmless. ``router.config.secret_path`` refuses a short or
guessable token when the config loads.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from router.config.model import Config
from router.events import FORM_TYPE, PayloadError, parse_body
from router.inbound.receive import Receiver, error, traced


class V1Receiver:
    """``POST {server.v1_path}``: a V1 form post, stored like a V2 webhook once parsed (no signature to check)."""

    def __init__(self, receiver: Receiver, config: Callable[[], Config]):
        self.receiver = receiver
        self.config = config

    async def __call__(self, request: web.Request) -> web.Response:
        return await traced(self._receive, request)

    async def _receive(self, request: web.Request) -> web.Response:
        config = self.config()
        content_type = request.content_type.lower()
        if content_type != FORM_TYPE:
            self.receiver.observe("", "rejected_content_type")
            return error(415, f"unsupported content type {content_type or 'none'!r}: V1 webhooks are form posts")
        body = await self.receiver.read_body(request, config)
        if isinstance(body, web.Response):
            return body
        try:
            event = parse_body(body, content_type, config.plugandpay.trigger_aliases)
        except PayloadError as exc:
            self.receiver.observe("", "rejected_payload")
            return error(400, str(exc))
        return await self.receiver.admit(event, config)
