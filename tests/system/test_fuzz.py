"""Bad input never breaks the daemon: hypothesis throws malformed bodies and headers at the real endpoint.

Whatever arrives — broken JSON, wrong types, huge numbers, deep nesting, invalid UTF-8, wrong signatures or
content types — the answer is a 4xx with a JSON error (or 2xx for a body that really is a webhook), never a
5xx, the process stays up, and only the accepted bodies are stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.inbound.verify import sign
from tests.support import WEBHOOK_KEY, DaemonProcess, reserved_port, signed_headers, webhook_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "trigger_type": st.sampled_from(["order_paid", "order_payment_completed", "", "x" * 300]) | json_values,
        "triggerable_id": st.integers() | st.text(max_size=70) | json_values,
        "triggerable_type": st.sampled_from(["order", "seller", "nonsense"]) | json_values,
        "rule_id": json_values,
        "tenant_id": json_values,
    },
)
bodies = st.one_of(
    fields.map(lambda f: json.dumps({"event": f, "rule_id": 1}).encode()),
    fields.map(lambda f: json.dumps(f).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(min_value=30, max_value=3000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(min_value=25, max_value=400).map(
        lambda n: b'{"trigger_type": "order_paid", "triggerable_id": ' + b"9" * n + b"}"
    ),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "text/plain", ""]
)
signatures = st.sampled_from(["good", "missing", "wrong", "garbage"])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    port = reserved_port()
    config = folder / "config.yaml"
    config.write_text(
        f'server: {{listen: "127.0.0.1:{port}", max_body_bytes: 4096}}\n'
        f'plugandpay: {{api_url: "http://127.0.0.1:9", webhook_key: "{WEBHOOK_KEY}"}}\n'
        f'store: {{url: "sqlite:///{folder / "router.db"}"}}\nrules: []\n'
    )
    process = DaemonProcess(config, port).start()
    yield process
    assert process.stop() == 0


accepted: set[int] = set()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, content_type=content_types, how=signatures)
def test_malformed_requests_get_4xx_and_never_crash(daemon, body, content_type, how):
    headers = {"Content-Type": content_type} if content_type else {}
    if how == "good":
        headers["X-Signature"] = sign(WEBHOOK_KEY, body)
    elif how == "wrong":
        headers["X-Signature"] = sign("not-the-key", body)
    elif how == "garbage":
        headers["X-Signature"] = "zz" * 40
    response = httpx.post(daemon.webhook_url, content=body, headers=headers, timeout=10)
    assert response.status_code < 500, response.text
    assert "error" in response.json() or "event_id" in response.json()
    if response.status_code in (200, 202):
        assert how == "good"
        accepted.add(response.json()["event_id"])
    else:
        assert response.status_code in (400, 401, 413, 415)


def test_only_accepted_bodies_were_stored(daemon):
    # After the property test above when it ran (pytest keeps file order), whose answers are in ``accepted``;
    # alone too: this test sends its own accepted and rejected webhooks first.
    def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(daemon.webhook_url, content=body, headers=headers, timeout=10)

    good = webhook_body(ident=990001)
    first = post(good, signed_headers(good))
    assert first.status_code == 202
    accepted.add(first.json()["event_id"])
    assert post(good, signed_headers(good)).json() == {"event_id": first.json()["event_id"], "duplicate": True}
    padded = json.loads(webhook_body(ident=990005))
    padded["padding"] = "x" * 5000
    too_large = json.dumps(padded).encode()
    unfinished = webhook_body(ident=990003)[:-1]
    rejected = [
        (401, webhook_body(ident=990002), signed_headers(webhook_body(ident=990002), key="not-the-key")),
        (400, unfinished, signed_headers(unfinished)),
        (415, webhook_body(ident=990004), {**signed_headers(webhook_body(ident=990004)), "Content-Type": "text/plain"}),
        (413, too_large, signed_headers(too_large)),
    ]
    assert [post(body, headers).status_code for _, body, headers in rejected] == [s for s, _, _ in rejected]

    stored = sqlite3.connect(daemon.config_path.parent / "router.db").execute("SELECT id, triggerable_id FROM events")
    rows = stored.fetchall()
    assert {row[0] for row in rows} == accepted
    assert [row[1] for row in rows if row[1].startswith("99000")] == ["990001"]
    assert daemon.proc is not None and daemon.proc.poll() is None
