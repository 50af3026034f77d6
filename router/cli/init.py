"""``plugpay-router init DIR``: a working shop folder, so a new shop never starts from a copied file.

(Being written: the config, its templates, an env file naming every variable, rule tests, the systemd unit.)
"""

from __future__ import annotations

import argparse

from router.cli.errors import UserError


def cmd_init(args: argparse.Namespace) -> int:
    raise UserError("init is not available yet")
