"""What counts as a secret, and how secrets are masked in everything the router shows.

A value counts as a secret when its setting is declared secret, or when the name of its setting or of the
``${VAR}`` that gave it looks like one (``SECRET_NAME``: token, secret, password, key, ...). The config
remembers those values; ``masker`` turns them into a function that replaces each of them with ``***`` in
log lines, error texts and admin API answers; ``json_masker`` also catches the JSON-escaped spelling of a
secret (quotes, backslashes, non-ASCII) in text that was rendered as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from toolkit import jsontext

SECRET_NAME = re.compile(r"token|secret|password|passwd|key|auth|credential", re.IGNORECASE)

Masker = Callable[[str], str]


def masker(secrets: frozenset[str]) -> Masker:
    """A function that replaces every secret value in a text with ``***``, also as the router itself may
    have respelled it: lower-cased and trimmed, as a trigger name is (``router.events.canonical_trigger``)."""
    spellings = {spelled for secret in secrets for spelled in (secret, secret.strip().lower()) if spelled}
    ordered = sorted(spellings, key=len, reverse=True)
    if not ordered:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def mask(text: str) -> str:
        # Every log line passes through here; plain substring checks rule out the usual no-secret case fast.
        if any(secret in text for secret in ordered):
            return pattern.sub("***", text)
        return text

    return mask


_remembered: set[str] = set()


def remember(secrets: frozenset[str]) -> None:
    """Keep the secrets of a config this process loaded, for messages printed outside any log (a command's error)."""
    _remembered.update(secrets)


def mask_remembered(text: str) -> str:
    """``text`` with every remembered secret masked, in every spelling ``json_masker`` knows."""
    return json_masker(frozenset(_remembered))(text) if _remembered else text


def json_masker(secrets: frozenset[str]) -> Masker:
    """``masker`` for JSON text: each secret is also looked for as JSON spells it inside a string, both with
    non-ASCII escaped (``json.dumps``: the admin API, log lines) and as UTF-8 (``jsontext``)."""
    spellings = {spelled(secret)[1:-1] for secret in secrets for spelled in (json.dumps, jsontext.dumps)}
    return masker(secrets | spellings)
