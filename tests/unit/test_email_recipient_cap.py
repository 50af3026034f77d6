"""The email connector's recipient cap, in process: ``max_recipients`` (default ``DEFAULT_MAX_RECIPIENTS``)
bounds the recipients of one message across ``to``, ``cc`` and ``bcc`` together; exactly the cap is sent, one
more is a permanent error, both when the message is built and when ``check`` / ``simulate`` look at a
rendered request."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import ConnectorDefaults, Outgoing, Permanent
from connectors.email import DEFAULT_MAX_RECIPIENTS, EmailConnector

SETTINGS = {"host": "smtp.example.nl", "from": "Shop <shop@example.nl>"}


def addresses(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"email": f"{prefix}{n}@example.nl"} for n in range(count)]


def spread(total: int) -> dict[str, Any]:
    """A mail to ``total`` recipients, one to ``to`` and the rest split over ``cc`` and ``bcc``."""
    cc = (total - 1) // 2
    return {
        "to": addresses("student", 1),
        "cc": addresses("mentor", cc),
        "bcc": addresses("archive", total - 1 - cc),
        "subject": "Welkom",
        "text": "Hoi",
    }


def built(request: dict[str, Any], settings: dict[str, Any] = SETTINGS) -> list[str]:
    """The envelope recipients of the message the connector would send."""
    connector = EmailConnector("mail", settings, ConnectorDefaults())
    _, envelope = connector.build(Outgoing(delivery_id=1, delivery_key="ppr_1", event_id=1, request=request))
    return envelope


def test_exactly_the_default_cap_is_sent_and_one_more_is_refused_across_to_cc_and_bcc() -> None:
    assert len(built(spread(DEFAULT_MAX_RECIPIENTS))) == DEFAULT_MAX_RECIPIENTS
    with pytest.raises(Permanent, match=rf"{DEFAULT_MAX_RECIPIENTS + 1} recipients, more than max_recipients"):
        built(spread(DEFAULT_MAX_RECIPIENTS + 1))


def test_cc_and_bcc_count_against_the_cap_like_to() -> None:
    settings = {**SETTINGS, "max_recipients": 3}
    assert len(built(spread(3), settings)) == 3
    for key in ("cc", "bcc"):
        request = {"to": addresses("student", 2), key: addresses("extra", 2), "subject": "Welkom", "text": "Hoi"}
        with pytest.raises(Permanent, match=r"4 recipients, more than max_recipients \(3\)"):
            built(request, settings)


def test_check_counts_every_recipient_against_the_cap_too() -> None:
    assert EmailConnector.check_rendered(spread(DEFAULT_MAX_RECIPIENTS), SETTINGS) == []
    assert EmailConnector.check_rendered(spread(DEFAULT_MAX_RECIPIENTS + 1), SETTINGS) == [
        f"{DEFAULT_MAX_RECIPIENTS + 1} recipients, more than max_recipients ({DEFAULT_MAX_RECIPIENTS})"
    ]


def test_check_counts_recipients_as_sending_does_and_reply_to_apart() -> None:
    from connectors.email import EmailConnector

    ten = [{"name": "", "email": f"k{n}@example.nl"} for n in range(DEFAULT_MAX_RECIPIENTS)]
    request = {"to": ten, "reply_to": [{"name": "", "email": "shop@example.nl"}], "subject": "Hoi"}
    assert EmailConnector.check_rendered(request, {}) == []  # the daemon sends this one
