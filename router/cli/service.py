"""The commands about the daemon itself: ``serve`` runs it, ``check`` (``router.cli.check``) validates its config."""

from __future__ import annotations

import argparse
import asyncio
import sys

from router import logs
from router.cli.check import cmd_check
from router.cli.errors import UserError
from router.config import load_config
from router.store import StoreUnavailable

__all__ = ["cmd_check", "cmd_serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    from router.daemon import Daemon

    config = load_config(args.config)
    logs.configure(args.log_level, json=None if args.log_format is None else args.log_format == "json")
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
