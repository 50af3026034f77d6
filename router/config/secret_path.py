"""The check of ``server.v1_path``: unsigned V1 webhooks are only as safe as the secrecy of their URL.

The last path segment must be a long random token (at least 32 URL-safe characters, not a word or a
pattern), and the path must differ from the signed V2 path.
"""

from __future__ import annotations

MIN_TOKEN_LENGTH = 32
MIN_DISTINCT = 12
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
HOW_TO = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_v1_path(path: str, v2_path: str) -> str | None:
    """Why ``server.v1_path`` is not a safe secret URL, or None when it is."""
    if not path.startswith("/"):
        return "must start with '/'"
    if path.rstrip("/") == v2_path.rstrip("/"):
        return "must differ from server.path (the V2 path only takes signed JSON)"
    token = path.rstrip("/").rsplit("/", 1)[-1]
    if len(token) < MIN_TOKEN_LENGTH or not set(token) <= TOKEN_CHARS or len(set(token)) < MIN_DISTINCT:
        return (
            f"V1 webhooks are unsigned, so the last path segment must be a secret token of at least"
            f" {MIN_TOKEN_LENGTH} random letters, digits, '-' or '_' (make one with: {HOW_TO})"
        )
    return None
