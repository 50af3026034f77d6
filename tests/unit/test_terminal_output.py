"""What the command line prints reaches a terminal: text from strangers (a forged webhook's trigger, a
destination's error) must not carry control characters that move the cursor, recolour or retitle it."""

from __future__ import annotations

import io

import pytest

from router.cli import main
from router.text import EscapedStream, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("order_paid\x1b[2J\x07", "order_paid\\x1b[2J\\x07"),  # clear screen, bell
        ("ok\x1b]0;pwned\x07", "ok\\x1b]0;pwned\\x07"),  # window title
        ("a\rb", "a\\x0db"),  # a carriage return that would overwrite the line
        ("\x9b31m red", "\\x9b31m red"),  # an 8-bit CSI
        ("abc\u202etxt.exe", "abc\\u202etxt.exe"),  # a right-to-left override
        ("Jan Jansen: 3 rows\n\tindented", "Jan Jansen: 3 rows\n\tindented"),  # layout is kept
        ("Zoë Ærø ✓", "Zoë Ærø ✓"),  # printable non-ASCII is kept
    ],
)
def test_control_characters_are_printed_as_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_an_escaped_stream_writes_what_it_is_given_escaped_and_keeps_its_stream() -> None:
    target = io.StringIO()
    stream = EscapedStream(target, keep="\n\r")
    assert stream.write("done\r\x1b[1A") == len("done\r\x1b[1A")
    assert target.getvalue() == "done\r\\x1b[1A"
    assert stream.getvalue() == target.getvalue()  # anything else is the wrapped stream's


def test_every_command_prints_through_the_escaping_stream(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    missing = tmp_path / "no\x1b[2Jsuch.yaml"
    assert main(["check", "-c", str(missing)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\\x1b[2J" in err
