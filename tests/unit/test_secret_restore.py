"""Putting secrets back at send time (``router.render.secret_refs.restore``) when one text holds several of them:
every reference is filled in at its own place whatever the order of the notes, values of any length, and a
secret whose value starts with another secret's value is still known as itself (the longer value is matched
first), so a rotated value of either lands exactly where it belongs."""

from __future__ import annotations

import json
import random
from typing import Any

from router.config import Config
from router.render.secret_refs import restore
from tests.rules_support import config_of, event, order, run

SHORT = "abcd-1234"
LONG = "abcd-1234-efgh-5678"  # starts with SHORT's value (and API_TOKEN sorts first by name)
ENV = {"API_TOKEN": SHORT, "SESSION_TOKEN": LONG}
ROTATED = {"API_TOKEN": "new-short-x", "SESSION_TOKEN": "n3w-l0ng-token-0000-1111"}
RULE = """\
- name: course
  trigger: order_paid
  actions:
    - connector: hook
      path: /enrolments
      headers: {Authorization: "Pair ${API_TOKEN}:${SESSION_TOKEN}"}
      json:
        line: "${SESSION_TOKEN}, then ${API_TOKEN} for {{ order.billing.contact.firstname }}, ${SESSION_TOKEN}!"
        only: ["${API_TOKEN}${API_TOKEN}"]
"""


def expected(values: dict[str, str]) -> dict[str, Any]:
    short, long = values["API_TOKEN"], values["SESSION_TOKEN"]
    return {
        "headers": {"Authorization": f"Pair {short}:{long}"},
        "line": f"{long}, then {short} for Bilal, {long}!",
        "only": [short + short],
    }


def sent(request: dict[str, Any], config: Config) -> dict[str, Any]:
    out = restore(request, config.secret_vars)
    return {"headers": out["headers"], "line": out["json"]["line"], "only": out["json"]["only"]}


def stored(config: Config) -> dict[str, Any]:
    [delivery] = run(config, event(), order()).deliveries
    assert delivery.status == "pending", delivery.error
    return json.loads(json.dumps(delivery.request))  # as the store gives it back


def test_several_secrets_in_one_text_come_back_exactly() -> None:
    config = config_of(RULE, ENV)
    request = stored(config)
    assert SHORT not in json.dumps(request)
    assert request["json"]["line"] == "***, then *** for Bilal, ***!"
    assert [ref["var"] for ref in request["_secrets"]] == [
        "API_TOKEN",
        "SESSION_TOKEN",
        "SESSION_TOKEN",
        "API_TOKEN",
        "SESSION_TOKEN",
        "API_TOKEN",
        "API_TOKEN",
    ]
    assert sent(request, config) == expected(ENV)


def test_rotated_values_of_other_lengths_land_in_their_own_places() -> None:
    request = stored(config_of(RULE, ENV))
    assert sent(request, config_of(RULE, ROTATED)) == expected(ROTATED)


def test_the_order_of_the_notes_does_not_matter() -> None:
    config = config_of(RULE, ROTATED)
    request = stored(config_of(RULE, ENV))
    shuffled = random.Random(7)
    for _ in range(5):
        notes = list(request["_secrets"])
        shuffled.shuffle(notes)
        assert sent({**request, "_secrets": notes}, config) == expected(ROTATED)
    assert sent({**request, "_secrets": request["_secrets"][::-1]}, config) == expected(ROTATED)
