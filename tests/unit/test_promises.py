"""Promises of the log lines, held in process on real log calls: secrets masked, every line ASCII."""

from __future__ import annotations

import json

import pytest
import structlog

from router import logs

API_TOKEN = "pp-api-token-3e8d1a"
QUOTED = 'smtp-pa"ss\\word'  # JSON writes it as smtp-pa\"ss\\\\word: that spelling must be caught too


def test_a_secret_carried_by_a_log_call_is_printed_as_stars(capsys: pytest.CaptureFixture[str]) -> None:
    # Configured here, not in a fixture: the logger writes to the stdout of the moment, capsys's during the test.
    logs.configure("info", json=True)
    logs.set_secrets(frozenset({API_TOKEN, QUOTED}))
    try:
        log = structlog.get_logger("router.route")
        # What an API or a destination may quote back: the token in an error text, nested values, a credential.
        log.warning("event fetch failed, will retry", reason=f"Plug&Pay API answered 401: bad token {API_TOKEN}")
        log.error("delivery dead", request={"headers": {"Authorization": f"Bearer {API_TOKEN}"}}, password=QUOTED)
    finally:
        logs.set_secrets(frozenset())
        structlog.reset_defaults()
    out = capsys.readouterr().out
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["reason"] == "Plug&Pay API answered 401: bad token ***"
    assert second["request"] == {"headers": {"Authorization": "Bearer ***"}} and second["password"] == "***"
    for secret in (API_TOKEN, QUOTED, json.dumps(QUOTED)[1:-1]):
        assert secret not in out


def test_log_lines_stay_ascii_and_mask_a_non_ascii_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """A customer's name in an error text cannot fail a stdout whose encoding is not UTF-8, and a secret with
    non-ASCII characters is masked in the escaped spelling the line then has."""
    secret = "geheim-wachtwoord-é"
    logs.configure("info", json=True)
    logs.set_secrets(frozenset({secret}))
    try:
        log = structlog.get_logger("router.deliver")
        log.warning("delivery failed, will retry", error="HTTP 422: naam 'Zoë Çelik' ongeldig", password=secret)
    finally:
        logs.set_secrets(frozenset())
        structlog.reset_defaults()
    out = capsys.readouterr().out
    assert out.isascii()
    line = json.loads(out)
    assert line["error"] == "HTTP 422: naam 'Zoë Çelik' ongeldig" and line["password"] == "***"
