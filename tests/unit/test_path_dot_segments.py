"""Dot segments in URL paths, in process (``router.render.url_path``): a template value that is exactly ``.`` is
refused like ``..`` (``%2E`` means ``.`` to URL normalisers, so no encoding of it is safe), in one segment and
in every segment of ``| safe_path``; longer runs of dots are ordinary text."""

from __future__ import annotations

import pytest

from router.render.url_path import safe_path, segment
from tests.rules_support import order, planned

ONE_SEGMENT = """
- name: enrol
  trigger: order_paid
  actions: [{connector: hook, path: "/contacts/{{ order.billing.contact.email }}/enrol"}]
"""
SAFE_PATH = """
- name: files
  trigger: order_paid
  actions: [{connector: hook, path: "/files/{{ order.billing.contact.email | safe_path }}"}]
"""


def with_email(value: str) -> dict:
    data = order()
    data["billing"]["contact"]["email"] = value
    return data


@pytest.mark.parametrize("value", [".", ".."])
def test_a_value_that_is_a_dot_segment_fails_the_action_with_the_reason(value: str) -> None:
    delivery = planned(ONE_SEGMENT, with_email(value))["enrol", 0]
    assert delivery.status == "dead" and delivery.request is None
    assert f"{value!r} cannot be a path segment" in (delivery.error or "")


@pytest.mark.parametrize("value", [".", "a/./b", "./a", "a/."])
def test_safe_path_refuses_a_single_dot_segment_anywhere(value: str) -> None:
    delivery = planned(SAFE_PATH, with_email(value))["files", 0]
    assert delivery.status == "dead"
    assert "has a '.' or '..' segment" in (delivery.error or "")


def test_only_exact_dot_segments_are_refused() -> None:
    for value in (".", ".."):
        with pytest.raises(ValueError, match="cannot be a path segment"):
            segment(value)
        with pytest.raises(ValueError, match="segment"):
            safe_path(f"a/{value}/b")
    assert segment("...") == "..." and segment(".hidden") == ".hidden" and segment("a.b") == "a.b"
    assert safe_path("v1.2/notes.txt") == "v1.2/notes.txt"
