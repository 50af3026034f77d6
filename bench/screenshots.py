"""The dashboard's pictures in the README and the docs, made from the real UI so they cannot drift from it.

    python -m bench.screenshots [--out docs/img]

It starts the demo's world on this machine (the Plug&Pay sandbox and a stand-in for every destination,
``router.demo.targets``) and the real daemon on ``config.example.yaml`` with the dashboard on, gives it a
history (the demo's webhooks, all delivered; order 1043, whose course enrolment the course platform refuses
for good: a dead letter; an order the Plug&Pay API does not know: a failed event), waits until nothing is
pending, then logs in with headless Chromium and saves every page of ``SHOTS`` as a PNG, at desktop size
(1280 x 900) or on a phone's screen (390 x 844). Needs Debian's ``chromium`` and ``chromium-driver``
(see tests/browser.py). The README and docs/operating.md show only pictures named here; a test keeps it so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from router.demo.run import FIRST_PLUGANDPAY_RULE, TENANT_ID, WEBHOOKS
from router.demo.standins.sink import Reply
from router.demo.targets import DemoTargets
from router.events import webhook_body, wire_id
from router.inbound import verify
from tests.admin_support import admin_listen
from tests.browser import browser, missing
from tests.support import DaemonProcess, reserved_port

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
TOKEN = "screenshots-admin-token-3f9a1c"
DESKTOP = (1280, 900)
PHONE = (390, 844)
REFUSED = "course 90 is not open for enrolment yet: publish it on the course platform, then replay this delivery"
UNKNOWN_ORDER = "4040"  # the sandbox has no such order: its event fails


@dataclass(frozen=True)
class Shot:
    name: str  # the PNG's file name
    path: str  # the page, with {dead} / {delivered} / {failed} for the history's event ids
    phone: bool = False
    whole: bool = False  # the whole page (up to WHOLE_MAX px tall), not only the first screenful

    @property
    def width(self) -> int:
        """The picture's width in pixels (a phone's at two device pixels per CSS pixel)."""
        return PHONE[0] * 2 if self.phone else DESKTOP[0]


WHOLE_MAX = 2400
SHOTS = (
    Shot("overview.png", "/ui"),
    Shot("events.png", "/ui/events"),
    Shot("event.png", "/ui/events/{dead}", whole=True),
    Shot("dead-letters.png", "/ui/dead"),
    Shot("events-phone.png", "/ui/events", phone=True),
    Shot("dead-letters-phone.png", "/ui/dead", phone=True),
)


@dataclass(frozen=True)
class History:
    admin_url: str
    events: dict[str, int]  # dead, delivered, failed -> an event id of each


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNGs go (default {OUT})")
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="plugpay-router-screenshots-"))
    try:
        written = asyncio.run(_run(folder, args.out))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for path in written:
        print(path)
    return 0


async def _run(folder: Path, out: Path) -> list[Path]:
    targets = await DemoTargets.start(folder)
    try:
        with _daemon(folder, targets) as daemon:
            history = await _history(daemon, targets)
            return await asyncio.to_thread(_shoot, history, folder, out)
    finally:
        await targets.stop()


@contextlib.contextmanager
def _daemon(folder: Path, targets: DemoTargets) -> Iterator[DaemonProcess]:
    """The daemon on a copy of the example shop (its templates beside it), with the dashboard on."""
    examples = resources.files("router").joinpath("examples")
    with resources.as_file(examples) as source:
        if (source / "templates").is_dir():  # the template files the config names, beside it
            shutil.copytree(source / "templates", folder / "templates")
        text = (source / "config.example.yaml").read_text(encoding="utf-8")
    listen, admin_url = admin_listen()
    config = folder / "shop.yaml"
    config.write_text(f'{text}\nadmin: {{token: "${{ROUTER_ADMIN_TOKEN}}", listen: "{listen}"}}\n', encoding="utf-8")
    port = reserved_port()
    env = targets.environment(f"127.0.0.1:{port}", f"sqlite:///{folder / 'router.db'}")
    daemon = DaemonProcess(config, port, {**env, "ROUTER_ADMIN_TOKEN": TOKEN})
    daemon.admin_url = admin_url
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


async def _history(daemon: DaemonProcess, targets: DemoTargets) -> History:
    key = targets.keys.webhook_key
    assert daemon.admin_url is not None
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        fired = [await _fire(daemon, key, trigger, ident, n) for n, (trigger, ident) in enumerate(WEBHOOKS)]
        await _settled(client, daemon.admin_url)
        # The course platform refuses the next enrolment for good (422): a dead letter beside delivered mail.
        targets.sink.replies = [Reply(422, {"error": REFUSED})]
        dead = await _fire(daemon, key, "order_paid", "1043", len(WEBHOOKS))
        failed = await _fire(daemon, key, "order_paid", UNKNOWN_ORDER, len(WEBHOOKS) + 1)
        await _settled(client, daemon.admin_url)
    return History(daemon.admin_url, {"dead": dead, "delivered": fired[0], "failed": failed})


async def _fire(daemon: DaemonProcess, key: str, trigger: str, ident: str, number: int) -> int:
    payload = webhook_body(
        trigger, wire_id(ident), kind=None, rule_id=FIRST_PLUGANDPAY_RULE + number, tenant_id=TENANT_ID, flat=False
    )
    body = json.dumps(payload).encode()
    answer = await daemon.post(body, {"Content-Type": "application/json", "X-Signature": verify.sign(key, body, "hex")})
    assert answer.status_code == 202, answer.text
    return int(answer.json()["event_id"])


async def _settled(client: httpx.AsyncClient, admin_url: str, patience: float = 60.0) -> None:
    """Until no event waits to be routed and no delivery to be sent (asked of the admin API, as an operator would)."""
    deadline = time.monotonic() + patience
    while True:
        waiting = [
            (await client.get(f"{admin_url}/api/{kind}", params={"status": "pending", "limit": 1})).json()[kind]
            for kind in ("events", "deliveries")
        ]
        if not any(waiting):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"still pending after {patience:g} s: {waiting}")
        await asyncio.sleep(0.1)


def _shoot(history: History, folder: Path, out: Path) -> list[Path]:
    written = []
    for phone in (False, True):
        width, height = PHONE if phone else DESKTOP
        for driver in browser(folder / f"chrome-{width}", width, height, phone=phone):
            # The page itself width x height, not the window around it (a phone's is emulated already).
            metrics = {"width": width, "height": height, "deviceScaleFactor": 2 if phone else 1, "mobile": phone}
            if not phone:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            _log_in(driver, history.admin_url)
            for shot in (s for s in SHOTS if s.phone == phone):
                driver.get(history.admin_url + shot.path.format(**history.events))
                driver.execute_script("document.activeElement && document.activeElement.blur()")
                path = out / shot.name
                if shot.whole:
                    tall = min(WHOLE_MAX, int(driver.execute_script("return document.documentElement.scrollHeight")))
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": tall})
                driver.save_screenshot(str(path))
                if shot.whole:
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
                written.append(path)
    return written


def _log_in(driver: Any, admin_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    driver.get(f"{admin_url}/ui/login")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(lambda d: "/ui/login" not in d.current_url)


if __name__ == "__main__":
    raise SystemExit(main())
