"""Customer values in URL paths, through the real daemon: a value in ``path:`` stays one segment under
``base_url``, so it cannot move a request to another endpoint of the destination; ``safe_path`` keeps slashes
but no dot segment, and a path that leaves ``base_url`` or carries a query is dead with the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from router.demo.sandbox import SandboxServer
from tests.support import DaemonProcess, webhook_body
from tests.template_support import RawSink, dest_config, make_daemon, settled

ATTACK = "../../admin?x=1#"


PATH_RULES = """\
  - name: enrol
    trigger: order_paid
    actions:
      - connector: dest
        path: "/contacts/{{ order.billing.contact.email }}/enrol"
        query: {email: "{{ order.billing.contact.email }}"}
  - name: nested
    trigger: order_paid
    actions: [{connector: dest, path: "/files/{{ order.reference | safe_path }}"}]
  - name: climbing
    trigger: order_paid
    actions: [{connector: dest, path: "/files/{{ order.customer_id | safe_path }}"}]
  - name: outside
    trigger: order_paid
    actions: [{connector: dest, path: "/../admin"}]
  - name: query-in-path
    trigger: order_paid
    actions: [{connector: dest, path: "/search?q={{ order.id }}"}]
"""


async def test_template_values_stay_one_path_segment_under_base_url(
    tmp_path: Path, sandbox: SandboxServer, raw_sink: RawSink, daemon_factory: Callable[..., DaemonProcess]
):
    order = sandbox.state.fixtures["orders"]["1042"]
    order["billing"]["contact"]["email"] = ATTACK
    order["reference"] = "2025/0042"
    order["customer_id"] = "../x"
    db = tmp_path / "router.db"
    daemon = make_daemon(daemon_factory, lambda port: dest_config(port, db, sandbox.url, raw_sink.url, PATH_RULES))
    assert (await daemon.post(webhook_body())).status_code == 202

    deliveries = {d.rule: d for d in await settled(db, 5)}
    (enrol_path, enrol_query), nested = sorted(raw_sink.requests, key=lambda request: request[0])
    assert nested == ("/api/files/2025/0042", {})
    root, api, contacts, segment, enrol = enrol_path.split("/")  # the attack is one segment, in its place
    assert (root, api, contacts, enrol) == ("", "api", "contacts", "enrol")
    assert unquote(segment) == ATTACK
    assert enrol_query == {"email": ATTACK}
    assert deliveries["enrol"].status == deliveries["nested"].status == "delivered"
    reasons = {name: deliveries[name].last_error or "" for name in ("climbing", "outside", "query-in-path")}
    assert all(deliveries[name].status == "dead" for name in reasons)
    assert "safe_path: '../x' has a '.' or '..' segment" in reasons["climbing"]
    assert "resolves to '/admin', outside base_url's path '/api'" in reasons["outside"]
    assert "use query: for query parameters" in reasons["query-in-path"]
