"""The commands about the daemon itself: ``serve`` runs it, ``check`` validates its config and exits."""

from __future__ import annotations

import argparse
import asyncio
import sys

from router import logs
from router.cli.errors import UserError
from router.config import load_config
from router.store import StoreUnavailable


def cmd_serve(args: argparse.Namespace) -> int:
    from router.daemon import Daemon

    config = load_config(args.config)
    logs.configure(args.log_level)
    logs.set_secrets(config.secrets)
    daemon = Daemon(args.config, config)
    # A store's helper thread (SQLite's commit, after its fsync) needs the GIL back to hand over the result;
    # with CPython's default 5 ms switch interval it waits behind the busy loop, and every ack waits too.
    sys.setswitchinterval(0.0005)
    try:
        asyncio.run(daemon.run())
    except StoreUnavailable as exc:
        raise UserError(f"store unavailable: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot start: {exc.strerror or exc}") from None
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    rules = config.rules.rules
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.config}: ok: {len(rules)} rules, {len(config.connectors)} connectors, version {config.version}")
    return 0
