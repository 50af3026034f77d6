"""``plugpay-router demo`` and ``config.example.yaml``: the README's quick start really shows the product working.

The demo runs as the README says, in a subprocess from an empty folder (so it finds the example config in
the package, not in the working directory), and its table must show every trigger delivered, through every
connector of the example config, to the local stand-ins (each of which checks the credentials it gets).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from router.demo.run import WEBHOOKS, config_variables
from router.demo.targets import DemoTargets
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
PACKAGED = ROOT / "router" / "examples" / "config.example.yaml"
TOUR = ROOT / "router" / "examples" / "demo.tour.yaml"  # the other connector types, merged in by the demo
ENV_EXAMPLE = ROOT / "deploy" / "plugpay-router.env.example"
QUICK_START = "pip install . && plugpay-router demo"


def env_file(path: Path) -> dict[str, str]:
    """``VAR=value`` lines of an environment file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def quick_start_command() -> list[str]:
    """The README's quick start, minus the install: the demo command to run."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks and blocks[0].strip() == QUICK_START, "the quick start must be exactly: " + QUICK_START
    command = blocks[0].strip().split(" && ", 1)[1].split()
    assert command[0] == "plugpay-router"
    return [sys.executable, "-m", "router", *command[1:]]


def table(output: str) -> list[list[str]]:
    """The demo's table rows, as cells (columns are separated by two or more spaces)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TRIGGER "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(re.split(r" {2,}", line.strip(), maxsplit=4))
    return rows


def run_demo(*extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*quick_start_command(), *extra], capture_output=True, text=True, timeout=90, cwd=cwd)


def test_the_demo_delivers_every_trigger_through_every_connector_to_local_stand_ins(tmp_path):
    result = run_demo(cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table(result.stdout)
    assert {r[0].split()[0] for r in rows} == {trigger for trigger, _ in WEBHOOKS}
    assert all(r[3] == "delivered" for r in rows), result.stdout
    kinds = {"mail", "crm", "lms", "books", "slack"}  # every connector of the example ...
    tour = {"news", "lite", "posta", "boekhouding", "postmark", "team-slack", "team-discord"}  # ... and its tour
    assert {r[2] for r in rows} == kinds | tour
    where = {r[1]: r[4] for r in rows}
    assert where["welcome-mail"] == 'mail to bilal@example.nl: "Bedankt voor je bestelling 2025-0042"'
    assert where["course-enrolment [id:5501]"] == "POST /lms/enrolments (token and signature verified)"
    assert where["invoice-to-moneybird"].startswith("Moneybird draft sales invoice 2025-0042 for Timmermans & Zn")
    assert where["affiliate-quit-slack"].startswith('Slack message: "Partner Jan de Vries')
    assert where["crm-cursus-basis"] == "ActiveCampaign contact bilal@example.nl; tags klant, cursus-basis; list 3"
    assert where["tour-eboekhouden"] == "e-Boekhouden invoice 2025-0042 for Timmermans & Zn, 2 lines"
    assert where["tour-discord"] == 'Discord message: "Verkocht: 2025-0042"'
    assert "All 17 deliveries of 6 webhooks arrived" in result.stdout
    assert not result.stderr.strip(), result.stderr  # the daemon's log goes to a file, not the terminal
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory


async def test_keep_running_leaves_it_up_for_a_webhook_by_hand_until_ctrl_c(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        *quick_start_command(), "--keep-running", cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    seen: list[str] = []

    async def line_with(text: str) -> str:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "the demo ended early:\n" + "".join(seen)
            seen.append(line)
            if text in line:
                return line

    try:
        trigger = (await line_with("plugpay-router trigger order_paid 1043")).split()
        await line_with("New deliveries appear below")
        sent = await asyncio.create_subprocess_exec(sys.executable, "-m", "router", *trigger[1:])
        assert await sent.wait() == 0
        line = await line_with("order_paid 1043  coaching-upsell")  # the upsell rule: only order 1043 has one
        assert line.split()[0] == "delivered"
        assert 'mail to anna@example.nl: "Plan je coachingsgesprek"' in line
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, "".join(seen) + rest.decode()
    assert "Stopping." in rest.decode()


def test_a_demo_that_cannot_finish_says_so_and_exits_1(tmp_path):
    result = run_demo("--timeout", "0", cwd=tmp_path)
    kept = re.search(r"kept in (\S+)", result.stdout)
    if kept:
        shutil.rmtree(kept.group(1), ignore_errors=True)
    assert result.returncode == 1, result.stdout
    assert "did not arrive" in result.stdout
    assert kept is not None  # the store, the log and the mails stay for a look


async def test_the_demo_overrides_exactly_the_variables_of_the_example_config(tmp_path):
    targets = await DemoTargets.start(tmp_path)
    try:
        env = targets.environment("127.0.0.1:1", "sqlite:///x.db")
    finally:
        await targets.stop()
    assert set(env) == config_variables(PACKAGED.read_text()) | config_variables(TOUR.read_text())
    # Addresses and secrets only: nothing that changes what the rules do.
    assert all(re.search(r"URL|HOST|PORT|LISTEN|STARTTLS|TOKEN|KEY|SECRET|PASSWORD|USERNAME", name) for name in env)


def test_the_example_config_passes_check_with_the_documented_environment():
    # The README's file is the one the package ships, but for the template file a copy cannot take along
    # (tests/unit/test_shop_folder.py); the env example also names the admin token of `init`'s folder.
    assert set(env_file(ENV_EXAMPLE)) >= config_variables(PACKAGED.read_text())  # every variable, documented
    # ... but for the webhook key, whose placeholder check refuses (tests/system/test_webhook_key.py)
    env = {**env_file(ENV_EXAMPLE), "PLUGANDPAY_WEBHOOK_KEY": "a-real-key-7d1c"}
    result = run_cli("check", "-c", str(EXAMPLE), env=env)
    assert result.returncode == 0, result.stderr
    assert "ok: 12 rules, 5 connectors" in result.stdout
    assert "warning" not in result.stderr  # no warnings either (an installed plugin's note is no warning)


def test_the_example_config_has_no_default_for_a_secret():
    result = run_cli("check", "-c", str(EXAMPLE), env={"PLUGANDPAY_API_TOKEN": "set"})
    assert result.returncode == 1
    for name in ("PLUGANDPAY_WEBHOOK_KEY", "SMTP_PASSWORD", "AC_API_TOKEN", "MONEYBIRD_TOKEN", "SLACK_WEBHOOK_SECRET"):
        assert f"environment variable {name} is not set" in result.stderr
