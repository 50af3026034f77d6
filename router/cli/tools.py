"""The commands for trying things out: ``trigger`` a signed test webhook, run the ``sandbox`` API or the
``demo``, ``simulate`` one event through the rules, and ``test`` rules against YAML cases.

The heavier modules (the demo, the sandbox, the simulator) are imported by their command only, so the
everyday commands start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request

from router.cli.errors import UserError
from router.config import Config, load_shop, require, webhook_path
from router.events import webhook_body
from router.inbound import verify
from router.plugandpay import ApiError, PlugAndPayClient


def cmd_trigger(args: argparse.Namespace) -> int:
    url, key, tenant = args.url, args.key, args.tenant_id
    if args.config:
        config = load_shop(args.config, args.shop, offline=True)
        require(config, "plugandpay.api_url", "plugandpay.api_token")
        if tenant is None:
            tenant = asyncio.run(_tenant_of(config))
        if key is None and config.plugandpay.webhook_key:
            require(config, "plugandpay.webhook_key")
            key = config.plugandpay.webhook_key
        if url is None:
            host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::", "") else config.server.host
            url = f"http://{host}:{config.server.port}{webhook_path(config)}"
    if url is None:
        raise UserError("give --url (the router's webhook URL), or -c CONFIG to take it from the config")
    if tenant is None:
        print("note: no tenant_id sent: give -c CONFIG to take it from the API, or --tenant-id", file=sys.stderr)
    payload = webhook_body(
        args.trigger, args.id, kind=args.type, rule_id=args.rule_id, tenant_id=tenant, flat=args.flat
    )
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers[args.header] = verify.sign(key, body, args.encoding)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:  # a 4xx/5xx answer is still an answer: show it
        status, text = exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    print(f"{status} {text.strip()}")
    return 0 if status < 300 else 1


async def _tenant_of(config: Config) -> int | str:
    """The id of the tenant the config's API token belongs to, as its webhooks carry it."""
    api = PlugAndPayClient.from_settings(config.plugandpay)
    try:
        found = (await api.tenant())["id"]
    except ApiError as exc:
        raise UserError(f"cannot tell the tenant from the API ({exc}): give --tenant-id") from None
    finally:
        await api.aclose()
    return found if isinstance(found, int) else str(found)


def _ids(table: dict[str, dict[str, object]]) -> str:
    return ", ".join(table) if len(table) <= 10 else f"{', '.join(list(table)[:5])}, ... ({len(table)} in all)"


def cmd_sandbox(args: argparse.Namespace) -> int:
    from router.demo.sandbox import Sandbox, SandboxServer, load_fixtures
    from router.demo.sandbox_api import synthesize_orders

    sandbox = Sandbox(load_fixtures(args.fixtures), token=args.token, synthesize=args.synthesize is not None)
    if args.synthesize:
        synthesize_orders(sandbox, args.synthesize)
    sandbox.reject_includes = set(getattr(args, "reject_include", None) or ())

    async def run() -> None:
        server = await SandboxServer(sandbox).start(args.host, args.port)
        print(
            f"Plug&Pay sandbox API on {server.url} "
            f"(orders {_ids(sandbox.fixtures['orders'])}; subscriptions "
            f"{', '.join(sandbox.fixtures['subscriptions'])}; sellers {', '.join(sandbox.fixtures['sellers'])})",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UserError(f"cannot start the sandbox: {exc.strerror or exc}") from None
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from router.demo import run as demo

    try:
        options = demo.DemoOptions(keep_running=args.keep_running, timeout=args.timeout, port_base=args.port_base)
        return demo.run(options)
    except demo.DemoError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot start the demo: {exc.strerror or exc}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from router.tools import simulate

    config = load_shop(args.config, args.shop, offline=True)
    if not getattr(args, "data", None):
        require(config, "plugandpay.api_url", "plugandpay.api_token")  # the object is fetched from the API
    try:
        text, rendered = simulate.run_command(config, args)
    except simulate.SimulateError as exc:
        raise UserError(str(exc)) from None
    print(text)
    return 0 if rendered else 1


def cmd_test(args: argparse.Namespace) -> int:
    from router.tools import rule_tests
    from router.tools.render_check import never_firing

    config = load_shop(args.config, args.shop, offline=True)  # rule tests send nothing: no secret is needed
    dead = never_firing(config)
    for problem in dead:
        print(f"error: {problem}", file=sys.stderr)
    report = rule_tests.run_file(config, args.cases)
    print(report.text())
    return 0 if report.ok and not dead else 1
