"""``${VAR}`` in a number or true/false setting: the text a variable gives is read as that type.

Environment variables are always text, so ``port: "${SMTP_PORT:-587}"`` must give the number 587 (the
example config and the demo depend on it), while text that is no number stays an error with file:line.
"""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse_config

CONFIG = """version: 1
server: {max_body_bytes: "${MAX_BODY:-4096}"}
connectors:
  mail:
    type: email
    host: 127.0.0.1
    port: "${SMTP_PORT:-587}"
    starttls: "${SMTP_STARTTLS:-true}"
    from: "Shop <shop@example.nl>"
    breaker: {failure_ratio: "${RATIO:-0.5}"}
"""


def test_defaults_and_variables_become_numbers_and_booleans():
    config = parse_config(CONFIG, "typed.yaml", env={"SMTP_PORT": "2525", "SMTP_STARTTLS": "False"})
    mail = config.connectors["mail"]
    assert mail.settings["port"] == 2525
    assert mail.settings["starttls"] is False
    assert mail.breaker == {"failure_ratio": 0.5, "calls": 10, "open_for": 30.0, "enabled": True}
    assert config.server.max_body_bytes == 4096


def test_text_that_is_not_of_the_type_is_still_an_error_with_file_and_line():
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG, "typed.yaml", env={"SMTP_PORT": "smtp", "SMTP_STARTTLS": "yes"})
    assert [str(p) for p in info.value.problems] == [
        "typed.yaml:7: connectors.mail.port: expected a whole number, got 'smtp'",
        "typed.yaml:8: connectors.mail.starttls: expected true or false, got 'yes'",
    ]
