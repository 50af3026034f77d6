"""Whether ``store.url`` names a store the daemon can open: checked when the config loads, not at first use.

A PostgreSQL URL with a port that is no number, or a scheme the router has no store for, would otherwise
pass ``check`` and stop ``serve`` at start. The message never repeats the URL: its user, password or even
its database name may come from a secret ``${VAR}``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("sqlite", "postgresql", "postgres")


def store_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a store address, or None."""
    scheme, colon, _ = url.partition(":")
    if not colon or scheme.lower() not in SCHEMES:
        return "expected sqlite:///path/to/router.db or postgresql://user@host:5432/database"
    if scheme.lower() == "sqlite":
        return None if url.removeprefix("sqlite:").lstrip("/") else "names no file: sqlite:///path/to/router.db"
    if not url.startswith(("postgresql://", "postgres://")):
        return "expected postgresql://user@host:5432/database"
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (reading it validates it)
    except ValueError:
        return "the port after the host is not a number from 1 to 65535"
    if len(parts.path.lstrip("/").split("/")) > 1:
        return "expected one database name after the host, as postgresql://user@host:5432/database"
    return None
