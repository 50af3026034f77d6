"""Header values built from customer text: a line break or a NUL in a header value or name is a permanent
error naming the header, so no text can add a header line; ordinary values pass unchanged."""

from __future__ import annotations

import pytest

from connectors.base import Permanent
from toolkit.headers import checked_headers


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Customer": "Bilal\r\nX-Injected: yes"}, "header X-Customer: the value contains a carriage return"),
        ({"X-Customer": "Bilal\nX"}, "header X-Customer: the value contains a line break"),
        ({"X-Customer\r\nX-Injected": "yes"}, "is not a valid header name"),
        ({"X-Customer": "a\x00b"}, "header X-Customer: the value contains a NUL"),
    ],
)
def test_a_line_break_or_nul_in_a_header_is_a_permanent_error_naming_it(headers, reason):
    with pytest.raises(Permanent, match=reason):
        checked_headers(headers)


def test_ordinary_headers_pass_unchanged():
    assert checked_headers({"Authorization": "Bearer abc", "X-Tab": "a\tb", "X-Name": "Zoë"}) == {
        "Authorization": "Bearer abc",
        "X-Tab": "a\tb",
        "X-Name": "Zoë",
    }
