"""Processes of a benchmark: which build runs a daemon, starting servers, and what a process cost.

A ``Build`` is a Python interpreter and the folder it runs in, so one run can put this checkout's daemon
beside another checkout's (``--compare /path/to/checkout`` uses ``/path/to/checkout/.venv/bin/python``).
CPU time and memory are read from ``/proc/PID/stat`` and ``/proc/PID/status`` (Linux): utime + stime
of every thread of the daemon, and its peak resident set (VmHWM).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Build:
    name: str
    python: str
    cwd: Path

    @classmethod
    def this(cls) -> Build:
        return cls("this", sys.executable, HERE)

    @classmethod
    def checkout(cls, folder: str) -> Build:
        path = Path(folder).resolve()
        return cls(path.name, str(path / ".venv" / "bin" / "python"), path)


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def start(args: list[str], ready_url: str, log: Path, build: Build | None = None) -> subprocess.Popen[bytes]:
    """``python args...`` of ``build`` (this one by default), once ``ready_url`` answers."""
    build = build or Build.this()
    proc = subprocess.Popen([build.python, *args], stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=build.cwd)
    wait_ready(ready_url, proc)
    return proc


def stop(procs: list[subprocess.Popen[bytes]], *, kill: bool = False) -> None:
    """Terminate (or with ``kill``, SIGKILL: no graceful drain) and wait for each."""
    for proc in procs:
        if kill:
            proc.kill()
        else:
            proc.terminate()
    for proc in procs:
        proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15 of stat


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
