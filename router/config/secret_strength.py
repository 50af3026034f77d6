"""Whether a configured secret is a real one: not a placeholder, a leftover of env-file quoting, nor guessable.

The webhook key and the admin token come from the environment, and the ways they go wrong are not typos in
the YAML: ``docker --env-file`` and systemd keep quotes and a trailing ``# comment`` as part of the value, an
env file that says ``KEY=${KEY}`` hands over the literal text, the examples' placeholders get copied as they
are, and a short or repetitive value can be guessed online. ``weakness`` names the first such reason, so the
config error says what to fix; the value itself is never part of the message.
"""

from __future__ import annotations

import re

# Values shipped in the README, deploy/plugpay-router.env.example and the usual stand-ins for "fill this in".
PLACEHOLDERS = frozenset(
    {
        "replace-with-your-webhook-key",
        "replace-with-a-long-random-token",
        "my-webhook-key",
        "your-webhook-key",
        "webhook-key",
        "change-me",
        "changeme",
        "replace-me",
        "admin",
        "password",
        "secret",
        "token",
        "test",
    }
)
_PLACEHOLDER_WORDS = re.compile(r"^(replace[-_ ]?with|your[-_ ])|change[-_ ]?me|placeholder|<[^>]*>", re.IGNORECASE)
_COMMENT = re.compile(r"\s#")
MIN_DISTINCT = 6


def weakness(value: str, *, minimum: int) -> str | None:
    """Why ``value`` cannot be a real secret of at least ``minimum`` characters, or None when it can."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return (
            "is wrapped in quotes, which docker --env-file and systemd's EnvironmentFile keep as part of the"
            " value: remove the quotes in the env file"
        )
    if "${" in text:
        return "is a literal ${...}: the environment variable was not expanded (an env file line like KEY=${KEY}?)"
    if _COMMENT.search(text):
        return (
            "contains ' #': a comment after the value in an env file is part of the value there;"
            " put the comment on its own line"
        )
    if text.lower() in PLACEHOLDERS or _PLACEHOLDER_WORDS.search(text):
        return "is a placeholder from the examples, which anybody can use"
    if len(text) < minimum:
        unit = "character" if len(text) == 1 else "characters"
        return f"is {len(text)} {unit} long: too short to stay secret (at least {minimum})"
    if len(set(text)) < MIN_DISTINCT:
        return f"repeats fewer than {MIN_DISTINCT} different characters: too easy to guess"
    return None
