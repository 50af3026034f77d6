"""Mail recipients from rendered action values, built so that customer data can never add one.

An email action's ``to``, ``cc``, ``bcc`` and ``reply_to`` are lists of structured recipients,
``{name: ..., email: ...}``, each field a template rendered on its own. The ``email`` must render to exactly
one bare address (``local@domain``: no display part, no comma, no line break); the ``name`` is customer text
and is only ever used as a display name, quoted by ``email.headerregistry.Address``, never parsed for
addresses. A plain string (alone or as a list entry) is accepted only when it parses strictly to exactly one
address. Anything else is a ``Permanent`` error: the delivery goes dead with the reason instead of reaching
addresses nobody configured.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Any

from connectors.base import Permanent

RECIPIENT_KEYS = ("to", "cc", "bcc", "reply_to")
# RFC 5322 dot-atom local part and a host name (non-ASCII allowed for internationalised addresses).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?"
ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str

    @property
    def address(self) -> Address:
        return Address(display_name=self.name, addr_spec=self.email)


def shown(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def addr_spec(value: Any, where: str) -> str:
    """``value`` when it is exactly one bare address, else ``Permanent`` naming ``where``."""
    text = str(value if value is not None else "").strip()
    if len(text) > 254 or not ADDR_SPEC.fullmatch(text) or len(text.rpartition("@")[0]) > 64:
        raise Permanent(f"{where}: expected one e-mail address such as shop@example.nl, got {shown(text)}")
    return text


def parse_one(text: str, where: str) -> Recipient:
    """One address from a plain string (``"Name <a@example.nl>"`` or ``"a@example.nl"``), parsed strictly."""
    try:
        header = email.policy.default.header_factory("To", " ".join(text.split()))
        addresses = header.addresses
        junk = bool(header.defects) or any(group.display_name is not None for group in header.groups)
    except (AttributeError, IndexError, TypeError, ValueError):
        # The standard library's header parser fails on some junk (a display name of "..") instead of
        # reporting a defect: that is still a string that is not one address.
        addresses, junk = (), True
    if len(addresses) != 1 or junk:
        found = "no address" if not addresses else f"{len(addresses)} addresses" if len(addresses) > 1 else "junk"
        raise Permanent(
            f"{where}: a plain string must be exactly one address, got {found} in {shown(text)}"
            " (use a list of {name: ..., email: ...} recipients)"
        )
    only = addresses[0]
    return Recipient(str(only.display_name), addr_spec(only.addr_spec, where))


def recipient(value: Any, where: str) -> Recipient:
    if isinstance(value, Mapping):
        name = value.get("name")
        flat = "" if name is None else " ".join(str(name).split())  # a line break in a name is just a space
        return Recipient(flat, addr_spec(value.get("email"), f"{where}.email"))
    if isinstance(value, str):
        return parse_one(value, where)
    raise Permanent(f"{where}: expected {{name: ..., email: ...}} or one address, got {type(value).__name__}")


def recipients(value: Any, key: str) -> list[Recipient]:
    """The recipients one action key rendered to; ``None``, an empty list and blank text give none."""
    if value is None or value == [] or (isinstance(value, str) and not value.strip()):
        return []  # an optional ``cc`` that rendered empty
    if isinstance(value, str | Mapping):
        return [recipient(value, key)]
    if isinstance(value, list | tuple):
        return [recipient(item, f"{key}[{index}]") for index, item in enumerate(value)]
    raise Permanent(f"{key}: expected a list of recipients, got {type(value).__name__}")


def check_shape(value: Any, key: str) -> list[tuple[str, str]]:
    """``check``: a string, a ``{name, email}`` mapping, or a list of them; every mapping has an ``email``."""
    if not isinstance(value, str | Mapping | list):
        return [(key, "expected a list of {name: ..., email: ...} recipients (or one address as a string)")]
    problems = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            extra = sorted(str(k) for k in item if k not in ("name", "email"))
            if "email" not in item:
                problems.append((key, "each recipient needs an 'email' (and may have a 'name')"))
            elif extra:
                problems.append((key, f"unknown recipient key {extra[0]!r} (use name and email)"))
        elif not isinstance(item, str):
            problems.append((key, "expected a list of {name: ..., email: ...} recipients (or one address as a string)"))
    return problems
