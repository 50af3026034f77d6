"""``check``: validate a config and exit; with ``--render``, also render every rule on real-shaped data.

Errors and warnings print together, always (a warning such as an unknown trigger often explains an
error), each as ``file:line: key: message``; the exit code is 1 when anything is wrong. ``check`` checks the
environment too (it is what a service runs before it starts); ``--offline`` checks the file alone, for a CI
job without the shop's secrets: unset variables are notes, and the secrets' values are not judged.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from connectors.registry import plugins
from router.cli.errors import UserError
from router.config import Config, load_config, shop_config
from router.config.pitfalls import unused_connectors


def cmd_check(args: argparse.Namespace) -> int:
    offline = getattr(args, "offline", False)
    config = load_config(args.config, offline=offline)
    if offline and getattr(args, "live", False):
        raise UserError("--live fetches from the API with the token: it does not go with --offline")
    for problem in config.unset:
        print(f"note: {problem} (serve needs it)", file=sys.stderr)
    rendering = getattr(args, "render", False)
    for warning in config.warnings:
        if not (rendering and warning.path.endswith(".trigger")):  # --render says these as errors
            print(f"warning: {warning}", file=sys.stderr)
    for note in unused_connectors(config):  # harmless, but often a rule's connector name is misspelt
        print(f"note: {note}", file=sys.stderr)
    for found in plugins():  # which types came from where, and the ones that could not be loaded
        print(f"{'note' if found.error is None else 'warning'}: {found}", file=sys.stderr)
    if config.shops or config.broken_shops:
        return shops(config, args)
    rules = config.rules.rules
    print(f"{args.config}: ok: {len(rules)} rules, {len(config.connectors)} connectors, version {config.version}")
    if getattr(args, "render", False):
        return render(config, args)
    if getattr(args, "data", None) or getattr(args, "live", False):
        raise UserError("--data and --live go with --render")
    return 0


def shops(config: Config, args: argparse.Namespace) -> int:
    """A config with ``shops:``: every shop's verdict (one shop's problems fail the check, and are each told),
    then ``--render`` of the shop ``--shop`` names."""
    for name, shop in config.shops.items():
        for warning in shop.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        rules, connectors = len(shop.rules.rules), len(shop.connectors)
        print(f"{args.config}: shop {name}: ok: {rules} rules, {connectors} connectors, version {shop.version}")
    for name, problems in config.broken_shops.items():
        for problem in problems:
            print(str(problem), file=sys.stderr)
        print(
            f"{args.config}: shop {name}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr
        )
    if config.broken_shops:
        return 1
    if getattr(args, "render", False):
        return render(shop_config(config, args.shop), args)
    return 0


def render(config: Config, args: argparse.Namespace) -> int:
    from router.cli import render_samples
    from router.demo.sandbox import load_fixtures
    from router.tools import render_check

    if args.data and args.live:
        raise UserError("give --data DIR or --live, not both")
    try:
        fixtures = render_samples.read_data_dir(args.data) if args.data else None if args.live else load_fixtures()
        kinds = render_check.kinds_needed(config)
        samples = asyncio.run(render_samples.fetch_samples(config, kinds, fixtures, args.limit))
    except render_samples.RenderCheckError as exc:
        raise UserError(str(exc)) from None
    source = f"--data {args.data}" if args.data else "the configured API" if args.live else "the sandbox fixtures"
    report = render_check.render_all(config, samples)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    problems = [str(problem) for problem in render_check.never_firing(config)] + report.lines()
    for line in problems:
        print(line, file=sys.stderr)
    shown = ", ".join(s.label for s in samples) or "nothing"
    print(
        f"rendered {len(config.rules.rules)} rules on {shown} ({source}): {report.actions} actions,"
        f" {len(problems)} problem{'s' if len(problems) != 1 else ''}"
    )
    return 1 if problems else 0
