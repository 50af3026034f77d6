"""Profiles of a benchmark's daemon: sample it with py-spy while the load runs, then list the top frames.

``sampled(pid, out)`` runs ``py-spy record --gil`` on the process (only the thread holding the GIL, so
the samples are where Python spends CPU, not where threads wait) until the block ends and writes
collapsed stacks to ``out``; ``top(out)`` names the frames that most samples were in: by self time
(the innermost frame), and the project's own frames by total time (anywhere on the stack). py-spy must be on
PATH or beside this interpreter (``pip install py-spy``; not a dependency of the project).

    python -m bench.flame PROFILE.txt [--top 10]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


@contextlib.contextmanager
def sampled(pid: int, out: Path, rate: int = 250) -> Iterator[None]:
    spy = subprocess.Popen(
        [_py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate), "--gil", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def _frame(text: str) -> str:
    """``render (router/route.py:123)`` → ``render (router/route.py)``: lines differ per sample."""
    name, _, where = text.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path}"


def top(path: Path, count: int = 10) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        weight = int(number)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ") and "(" in f]
        if not frames:
            continue
        samples += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            total[frame] += weight
    lines = [f"{samples} samples; top {count} by self time:"]
    lines += [f"  {n / samples:6.1%}  {frame}" for frame, n in own.most_common(count)]
    lines.append(f"top {count} of the project's own frames by total time:")
    inclusive = [
        (f, n)
        for f, n in total.most_common()
        if ("(router/" in f or "(connectors/" in f) and n < samples * 0.8  # not the entry points (main, serve)
    ]
    lines += [f"  {n / samples:6.1%}  {frame}" for frame, n in inclusive[:count]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    print(top(args.profile, args.top))


if __name__ == "__main__":
    main()
