"""The ``plugpay-router`` command line: ``main`` parses the arguments, runs one command and maps errors to exit codes.

Exit codes: 0 ok, 1 a user error (bad config, unreachable store, unknown id) with a readable message and
never a traceback, 2 wrong usage (argparse), 130 interrupted. The argparse tree is in ``parser``; the
commands are grouped by what they work on: ``service`` (serve, check), ``store_commands`` (events,
deliveries, replay, reroute, purge) and ``tools`` (trigger, sandbox, demo, simulate, test). Everything a
command prints goes through ``router.text.printable``: text from a forged webhook or a destination's error
never reaches the terminal as a control character.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from router.cli.errors import UserError
from router.cli.parser import build_parser, parse
from router.config import ConfigError
from router.secrets import mask_remembered
from router.store import StoreUnavailable
from router.text import EscapedStream

__all__ = ["UserError", "build_parser", "main"]


# Commands that run for long and print only structured logs, which escape control characters themselves.
UNESCAPED = ("serve",)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.command in UNESCAPED:
        return run(args)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = EscapedStream(stdout)
    sys.stderr = EscapedStream(stderr, keep="\n\t\r")  # \r: progress counters
    try:
        return run(args)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for warning in exc.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return 1
    except (UserError, StoreUnavailable) as exc:
        print(f"error: {mask_remembered(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
