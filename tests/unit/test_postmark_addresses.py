"""A Postmark address field names exactly the recipients the action meant: a customer's name is shown, never
parsed, and loses the punctuation an address parser would read."""

from __future__ import annotations

from email.utils import getaddresses

import pytest

from connectors.base import Permanent
from connectors.postmark import build_message, formatted
from connectors.recipients import Recipient


@pytest.mark.parametrize(
    "name",
    [
        "Eve <a@evil.example>, b@evil.example",
        '"c@evil.example" (d@evil.example); e@evil.example',
        "Eve\r\nBcc: f@evil.example",
        '\\"@evil.example,',
    ],
)
def test_a_name_that_looks_like_addresses_reaches_only_the_one_recipient(name: str) -> None:
    field = formatted(Recipient(name, "bilal@example.nl"))
    assert [address for _, address in getaddresses([field])] == ["bilal@example.nl"]
    assert "evil.example" not in field.partition("<")[2]


def test_an_ordinary_name_is_kept_as_written() -> None:
    assert (
        formatted(Recipient("Anna-Lotte O'Brien & Zn", "anna@example.nl"))
        == "Anna-Lotte O'Brien & Zn <anna@example.nl>"
    )
    assert formatted(Recipient("", "anna@example.nl")) == "anna@example.nl"


def test_the_message_carries_the_delivery_key_and_refuses_what_postmark_would() -> None:
    request = {"to": [{"email": "a@example.nl"}], "subject": "Hoi", "html": "<p>Hoi</p>"}
    body = build_message(request, sender="shop@example.nl", stream="", cap=50, key="ppr_1")
    assert body == {
        "From": "shop@example.nl",
        "To": "a@example.nl",
        "Subject": "Hoi",
        "HtmlBody": "<p>Hoi</p>",
        "MessageStream": "outbound",
        "Metadata": {"delivery_key": "ppr_1"},
    }
    with pytest.raises(Permanent, match="to: rendered no recipient"):
        build_message({**request, "to": []}, sender="s@x.nl", stream="outbound", cap=50, key="k")
