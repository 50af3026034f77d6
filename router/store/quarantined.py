"""What the quarantine keeps of a webhook that failed verification, and the bounds it is kept within.

The raw body (to verify it again later), the names of its headers (to see which signature scheme a shop
really uses) and the values of its signature-like headers only, never any other header value.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Quarantined:
    """One webhook to keep."""

    received_at: float
    remote: str | None
    path: str
    content_type: str
    header_names: list[str]
    signatures: dict[str, str]  # signature-like headers (name → value) only
    body: bytes

    @property
    def size(self) -> int:
        """What the entry counts against ``quarantine.max_bytes``: its body and header text."""
        return len(self.body) + sum(len(n) for n in self.header_names) + sum(len(v) for v in self.signatures.values())


@dataclass(frozen=True)
class QuarantineRecord(Quarantined):
    id: int = 0

    def as_dict(self) -> dict[str, Any]:
        try:
            text: str | None = self.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "id": self.id,
            "received_at": self.received_at,
            "remote": self.remote,
            "path": self.path,
            "content_type": self.content_type,
            "headers": self.header_names,
            "signature_headers": sorted(self.signatures),
            "size": len(self.body),
            "body": text,
            "body_base64": None if text is not None else base64.b64encode(self.body).decode(),
        }


@dataclass(frozen=True)
class QuarantineBounds:
    """How much the quarantine keeps. The oldest half (by count and by size) is reserved: a flood of new
    entries, from however many addresses, only ever replaces the newer half, so the webhooks refused first (a
    wrong key since 09:14) stay until they age out or are released."""

    max_entries: int
    max_bytes: int
    before: float  # entries received before this time are dropped

    def trim_args(self) -> tuple[int, int, int, int]:
        """(reserved entries, reserved bytes, entries after them, bytes after them), as the trim query takes them."""
        entries, size = self.max_entries // 2, self.max_bytes // 2
        return entries, size, self.max_entries - entries, self.max_bytes - size


@dataclass(frozen=True)
class QuarantineStats:
    entries: int = 0
    bytes: int = 0
    newest_at: float | None = None
