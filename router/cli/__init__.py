"""The ``plugpay-router`` command line: ``main`` parses the arguments, runs one command and maps errors to exit codes.

Exit codes: 0 ok, 1 a user error (bad config, unreachable store, unknown id) with a readable message and
never a traceback, 2 wrong usage (argparse), 130 interrupted. The argparse tree is in ``parser``; the
commands are grouped by what they work on: ``service`` (serve, check), ``store_commands`` (events,
deliveries, replay, reroute, purge) and ``tools`` (trigger, sandbox, demo, simulate, test).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from router.cli.errors import UserError
from router.cli.parser import build_parser, parse
from router.config import ConfigError
from router.store import StoreUnavailable

__all__ = ["UserError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
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
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
