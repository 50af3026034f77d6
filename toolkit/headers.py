"""Header names and values checked before anything is sent: a rendered value is customer text.

A line break in a header value would split one header into two (header injection); clients refuse it, but
refusing is an exception deep in the send, which used to be retried over the whole schedule. Checking first
turns it into what it is, a ``Permanent`` error that names the header, so the delivery goes dead at once with
a one-line reason. HTTP names must be RFC 9110 tokens; mail names printable ASCII without a colon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from toolkit.outcomes import Permanent

HTTP_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
MAIL_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ':'
# CR, LF and NUL end or split a header line; other control characters (except TAB) have no place in one.
BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
BAD_NAMES = {"\r": "a carriage return", "\n": "a line break", "\x00": "a NUL"}


def checked_headers(headers: Mapping[Any, Any], *, mail: bool = False) -> dict[str, str]:
    """``headers`` as text, or ``Permanent`` naming the first header whose name or value cannot be sent."""
    name_pattern = MAIL_NAME if mail else HTTP_NAME
    out: dict[str, str] = {}
    for key, value in headers.items():
        name, text = str(key), "" if value is None else str(value)
        if not name_pattern.fullmatch(name):
            raise Permanent(f"header name {name[:60]!r} is not a valid header name")
        bad = BAD_VALUE.search(text)
        if bad is not None:
            what = BAD_NAMES.get(bad.group(), "a control character")
            raise Permanent(f"header {name}: the value contains {what} (from a rendered template?)")
        out[name] = text
    return out
