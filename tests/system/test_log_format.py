"""``serve`` writes lines for people on a terminal and JSON lines otherwise; ``--log-format`` chooses.

The daemon runs on a pseudo-terminal (what a person starting it by hand sees) or a pipe (systemd, Docker).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import API_TOKEN, config_file, hand_over, offline_config, reserved_port


def first_lines(args: list[str], *, terminal: bool, cwd: Path) -> list[str]:
    """The daemon's output up to its 'daemon started' line, on a pseudo-terminal or a pipe."""
    env = {**os.environ, "PLUGANDPAY_API_TOKEN": API_TOKEN}
    if terminal:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(args, stdout=follower, stderr=follower, env=env, cwd=cwd)
        os.close(follower)
        reader = leader
    else:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        assert proc.stdout is not None
        reader = proc.stdout.fileno()
    text = b""
    deadline = time.monotonic() + 20
    try:
        while b"daemon started" not in text and time.monotonic() < deadline:
            ready, _, _ = select.select([reader], [], [], 0.5)
            if ready:
                chunk = os.read(reader, 65536)
                if not chunk:
                    break
                text += chunk
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        if terminal:
            os.close(reader)
    assert b"daemon started" in text, text
    return [line for line in text.decode().splitlines() if line.strip()]


def serve_args(tmp_path: Path, *extra: str) -> list[str]:
    port = reserved_port()
    text = offline_config(tmp_path).replace('listen: "127.0.0.1:9"', f'listen: "127.0.0.1:{port}"')
    config = config_file(tmp_path, text)
    hand_over(port)
    return [sys.executable, "-m", "router", "serve", "-c", str(config), *extra]


def test_on_a_terminal_serve_prints_lines_for_people(tmp_path: Path) -> None:
    lines = first_lines(serve_args(tmp_path), terminal=True, cwd=tmp_path)
    started = next(line for line in lines if "daemon started" in line)
    assert not started.lstrip().startswith("{")
    assert "[info" in started


def test_log_format_json_gives_json_lines_on_a_terminal_too(tmp_path: Path) -> None:
    lines = first_lines(serve_args(tmp_path, "--log-format", "json"), terminal=True, cwd=tmp_path)
    assert all(json.loads(line)["event"] for line in lines)


def test_without_a_terminal_serve_writes_json_lines_unless_told_otherwise(tmp_path: Path) -> None:
    assert all(json.loads(line) for line in first_lines(serve_args(tmp_path), terminal=False, cwd=tmp_path))
    people = first_lines(serve_args(tmp_path, "--log-format", "console"), terminal=False, cwd=tmp_path)
    assert not any(line.startswith("{") for line in people)
