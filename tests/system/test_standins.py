"""``plugpay-router standins`` as a reader of the README runs it: it prints what the stand-ins receive and no
library noise (aiosmtpd's AUTH-without-TLS and ``login_data`` warnings), its SMTP catcher still refuses mail
before a login, and the env file it writes holds every variable of the README's cookbook, so each cookbook
rule checks against the stand-ins with that file as its whole environment.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import smtplib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
import yaml

from router.config import load_config
from router.demo.standins.smtp import SmtpServer
from router.demo.targets import PORT_ORDER
from tests.support import free_port_base

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
FRAGMENT = re.compile(r"<!-- readme-test: fragment -->\n```yaml\n(.*?)```", re.S)
REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${VAR} without a :-default
READY = "Waiting for mail and requests"


class Standins:
    def __init__(self, proc: asyncio.subprocess.Process, base: int, env_file: Path):
        self.proc, self.base, self.env_file = proc, base, env_file
        self.printed: list[str] = []

    async def line(self) -> str:
        assert self.proc.stdout is not None
        text = (await asyncio.wait_for(self.proc.stdout.readline(), 20)).decode()
        assert text, "standins exited early:\n" + "".join(self.printed)
        self.printed.append(text)
        return text

    def env(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.env_file.read_text().splitlines())


@pytest.fixture
async def standins(tmp_path: Path) -> AsyncIterator[Standins]:
    base = free_port_base(len(PORT_ORDER))
    env_file = tmp_path / "standins.env"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "standins", "--port-base", str(base), "--env-file", str(env_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,  # the terminal a reader watches: library noise would show here
    )  # fmt: skip
    running = Standins(proc, base, env_file)
    try:
        while not (await running.line()).startswith(READY):
            pass
        yield running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def send_mail(port: int, username: str, password: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:  # smtplib: a client unlike the router's own
        client.login(username, password)
        client.sendmail("shop@example.nl", ["bilal@example.nl"], "Subject: Welkom\r\n\r\nHoi Bilal")


async def test_standins_print_what_they_receive_and_no_library_noise(standins):
    env = standins.env()
    await asyncio.to_thread(send_mail, int(env["SMTP_PORT"]), env["SMTP_USERNAME"], env["SMTP_PASSWORD"])
    assert await standins.line() == "mail    shop@example.nl -> bilal@example.nl: 'Welkom'\n"
    standins.proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(standins.proc.wait(), 10) == 0
    assert standins.proc.stdout is not None
    rest = (await standins.proc.stdout.read()).decode()
    assert rest == "Stopped.\n", rest  # nothing else: no "auth_required == True but auth_require_tls == False"
    printed = "".join(standins.printed) + rest
    assert "auth_require" not in printed and "deprecated" not in printed and "Traceback" not in printed


async def test_the_smtp_catcher_refuses_mail_before_a_login_and_a_wrong_login():
    server = await SmtpServer(credentials=("shop@example.nl", "right-password-4c1d")).start()
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, start_tls=False)
        async with client:
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await client.sendmail("shop@example.nl", ["bilal@example.nl"], "Subject: x\r\n\r\ny")
            assert refused.value.code == 530
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, start_tls=False)
        async with client:
            with pytest.raises(aiosmtplib.SMTPAuthenticationError) as wrong:
                await client.login("shop@example.nl", "wrong-password")
            assert wrong.value.code == 535  # answered, as a real server does, not left to time out
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, start_tls=False)
        async with client:
            await client.login("shop@example.nl", "right-password-4c1d")
            await client.sendmail("shop@example.nl", ["bilal@example.nl"], "Subject: ok\r\n\r\ny")
        assert [m.rcpt_tos for m in server.received] == [["bilal@example.nl"]]
    finally:
        await server.stop()


def cookbook_configs() -> list[tuple[int, str]]:
    """(README line, config text) per cookbook fragment, merged over config.example.yaml as the README says."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Cookbook\n")
    cookbook = readme[start : readme.index("\n## ", start + 1)]
    found = []
    for match in FRAGMENT.finditer(cookbook):
        fragment = yaml.safe_load(match.group(1))
        fragment = {"rules": fragment} if isinstance(fragment, list) else fragment
        config = yaml.safe_load(EXAMPLE.read_text())
        config["connectors"].update(fragment.get("connectors", {}))
        config["rules"] = fragment["rules"]
        line = readme[: start + match.start()].count("\n") + 2
        found.append((line, yaml.safe_dump(config, sort_keys=False, allow_unicode=True)))
    assert len(found) >= 8
    return found


async def test_every_cookbook_rule_checks_with_the_standins_env_file_alone(standins, tmp_path):
    env = standins.env()
    shutil.copytree(ROOT / "router" / "examples" / "templates", tmp_path / "templates")  # as `init` writes them
    missing = {}
    for line, text in cookbook_configs():
        if unset := set(REQUIRED.findall(text)) - set(env):
            missing[f"README.md:{line}"] = sorted(unset)
            continue
        path = tmp_path / f"cookbook-{line}.yaml"
        path.write_text(text)
        load_config(path, env=env)  # raises ConfigError naming file:line:key
    assert not missing, f"cookbook variables standins.env does not hold: {missing}"
    assert env["BOOKKEEPING_URL"].startswith(f"http://127.0.0.1:{standins.base + 2}/")  # the HTTP sink
    assert env["DISCORD_WEBHOOK_SECRET"].startswith(f"http://127.0.0.1:{standins.base + 2}/")
