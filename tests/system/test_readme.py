"""The README and the reference in docs/ work as written: their YAML passes ``check``, their shell blocks run,
their links land.

Conventions in README.md and docs/*.md (an HTML comment on the line before a fenced block, invisible when rendered):

- every ```yaml block carries a marker: ``<!-- readme-test: config NAME -->`` (a complete config, written to
  NAME and checked), ``<!-- readme-test: fragment -->`` (sections merged over config.example.yaml: connectors
  by name, ``rules`` replaced, other sections key by key; a YAML list is a ``rules:`` section; then checked),
  ``<!-- readme-test: file NAME -->`` (written to NAME for later commands, e.g. a rule-test cases file) or
  ``<!-- readme-test: skip REASON -->``;
- every ```sh block runs, the README first and then docs/*.md by name, in one work folder holding their files
  and copies of config.example.yaml and deploy/, like one terminal session of a reader who goes on to the
  reference (``export``, ``.`` and ``set`` are understood), unless marked ``<!-- readme-test: skip REASON -->``.
  ``plugpay-router serve``, ``sandbox`` and ``standins`` start in the background and are awaited; every other
  ``plugpay-router`` command must exit 0, and so must ``curl`` (against the local stand-ins). Lines of the
  programs in ``SKIP`` (installing, Docker, systemd, signals, the test suite itself, benchmarks) are skipped,
  and an unknown program fails the test, so a new kind of line is a decision, not an accident;
- the fixed addresses are replaced by free ports (``Session.rewrites``), and after each ``trigger`` the test
  waits until the daemon's store has nothing pending, as a reader would wait a moment.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from router.cli import main
from router.config import load_config
from router.demo.run import config_variables
from router.demo.targets import PORT_ORDER
from router.store import make_store
from router.store.base import DeliveryFilter, EventFilter
from tests.conftest import run_cli
from tests.support import free_port_base, reserved_port, wait_until


def repository_root() -> Path:
    """The folder holding pyproject.toml, above this file wherever the tests folder puts it."""
    here = Path(__file__).resolve()
    return next(folder for folder in here.parents if (folder / "pyproject.toml").exists())


ROOT = repository_root()
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]  # in the order a reader goes through them
EXAMPLE = ROOT / "config.example.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "plugpay-router.env.example"
TEMPLATES = ROOT / "router" / "examples" / "templates"
MARKER = re.compile(r"<!--\s*readme-test:\s*(config|fragment|file|skip)\b\s*(.*?)\s*-->")
SKIP = {
    "pip": "installs packages",
    "docker": "needs Docker",
    "sudo": "changes the system",
    "systemctl": "needs systemd",
    "journalctl": "needs systemd",
    "kill": "signals a process by id",
}
SKIP_MODULES = ("pytest", "bench")  # `python -m pytest` is this suite; `python -m bench...` are benchmarks
COVERED_ELSEWHERE = {"demo": "tests/system/test_demo.py runs the quick start"}
BACKGROUND = ("serve", "sandbox", "standins")  # servers a reader leaves running in a terminal of their own
# Commands the README (and the reference) must keep showing, runnable: deleting one of these features fails this test.
MUST_RUN = {
    "check", "serve", "standins", "sandbox", "trigger", "events", "deliveries", "trace", "simulate", "test", "replay",
    "reroute",
}  # fmt: skip


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # of the opening fence, 1-based
    marker: str | None = None
    arg: str = ""
    page: str = "README.md"  # relative to the repository

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def readme_blocks(text: str, page: str = "README.md") -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = lines[index]
        if not fence.startswith("```"):
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        above = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        found = MARKER.search(above)
        marker, arg = (found.group(1), found.group(2)) if found else (None, "")
        body = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(fence[3:].strip(), body, index + 1, marker, arg, page))
        index = end + 1
    return blocks


README_BLOCKS = readme_blocks(README.read_text())
BLOCKS = [block for page in PAGES for block in readme_blocks(page.read_text(), page_name(page))]
YAML_BLOCKS = [b for b in BLOCKS if b.lang == "yaml"]


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {name.strip(): value.strip() for name, value in pairs}


def check_env(text: str) -> dict[str, str]:
    """The documented environment, plus a placeholder for any other variable a README example uses."""
    env = env_file(ENV_EXAMPLE)
    env["PLUGANDPAY_WEBHOOK_KEY"] = "readme-test-webhook-key"  # check refuses the file's placeholder key
    for name in config_variables(text) - set(env):
        env[name] = "https://example.invalid/readme-test"
    return env


def merged_fragment(fragment: Any) -> dict[str, Any]:
    base = yaml.safe_load(EXAMPLE.read_text())
    if isinstance(fragment, list):
        fragment = {"rules": fragment}
    for key, value in fragment.items():
        if key == "connectors":
            base["connectors"].update(value)
        elif key == "rules":
            base["rules"] = value
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key].update(value)
        else:
            base[key] = value
    return dict(base)


# ---------------------------------------------------------------- YAML


def test_every_yaml_block_says_how_it_is_tested():
    unmarked = [b.where for b in YAML_BLOCKS if b.marker is None]
    assert not unmarked, f"{unmarked}: add a <!-- readme-test: ... --> marker (see this file)"
    readme = [b for b in README_BLOCKS if b.lang == "yaml"]
    assert sum(b.marker == "config" for b in readme) >= 1
    assert sum(b.marker == "fragment" for b in readme) >= 8  # the cookbook
    assert sum(b.marker == "fragment" for b in YAML_BLOCKS) >= 15  # and the reference


@pytest.mark.parametrize("block", [b for b in YAML_BLOCKS if b.marker in ("config", "fragment")], ids=lambda b: b.where)
def test_yaml_block_passes_check(block, tmp_path, monkeypatch, capsys):
    if block.marker == "config":
        text = block.text
    else:
        text = yaml.safe_dump(merged_fragment(yaml.safe_load(block.text)), sort_keys=False, allow_unicode=True)
    path = tmp_path / (block.arg or "fragment.yaml")
    path.write_text(text)
    shutil.copytree(TEMPLATES, tmp_path / "templates")  # the template files `init` writes beside the config
    for name, value in check_env(text).items():
        monkeypatch.setenv(name, value)
    code = main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, f"{block.where}:\n{err}"
    assert ": ok: " in out
    assert "warning" not in err, err


# ---------------------------------------------------------------- links and the test command


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#{1,4} (.+)$", path.read_text(), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_link_lands_on_a_file_and_heading(page):
    """Links inside a page, to another page (``docs/rules.md#scopes``) and to files of the repository."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"\w+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in headings(linked)):
            broken.append(target)
    assert not broken, f"{page_name(page)}: links that land nowhere: {broken}"


def test_the_readme_links_every_reference_page():
    text = README.read_text()
    assert {page.name for page in DOCS} <= set(re.findall(r"\]\(docs/([\w-]+\.md)[)#]", text))
    assert "](docs/postgresql.md#several-instances-on-postgresql)" in text


def test_the_readme_stays_a_ten_minute_read():
    assert len(README.read_text().splitlines()) < 450


def test_the_readme_shows_the_install_and_test_commands_ci_runs():
    blocks = [b.text for b in README_BLOCKS if b.lang == "sh"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    [test_command] = [line for line in ci if line.startswith("python -m pytest")]
    [install] = [line for line in ci if line.startswith("pip install --quiet '.[test]'")]
    readme_install = install.replace(" --quiet", "")
    assert any(f"{readme_install}\n{test_command} " in block for block in blocks), (readme_install, test_command)
    assert any("python -m pytest tests/unit -q" in block for block in blocks)  # the fast unit tests


def test_the_readme_rule_tests_run_against_the_config_the_readme_shows(tmp_path):
    """A reader runs the README's cases file against the config the README wrote out, not one it never showed."""
    files = {b.arg: b for b in README_BLOCKS if b.marker in ("config", "file")}
    runs = [
        tokens
        for block in README_BLOCKS
        if block.lang == "sh" and block.marker != "skip"
        for _, tokens in commands(block)
        if tokens[:2] == ["plugpay-router", "test"]
    ]
    assert runs, "the README shows no `plugpay-router test` command"
    for tokens in runs:
        config, cases = tokens[tokens.index("-c") + 1], tokens[-1]
        assert files.get(config) and files[config].marker == "config", f"{config}: not a config the README shows"
        assert files.get(cases) and files[cases].marker == "file", f"{cases}: not a cases file the README shows"
        for name in (config, cases):
            (tmp_path / name).write_text(files[name].text)
        result = run_cli("test", "-c", config, cases, cwd=tmp_path, env=check_env(files[config].text))
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"\d+ cases?: (\d+) passed, 0 failed", result.stdout), result.stdout


# ---------------------------------------------------------------- shell


@dataclass
class Session:
    """One reader's terminal: a work folder, an environment, and the servers started so far."""

    work: Path
    env: dict[str, str]
    rewrites: dict[str, str]
    background: list[tuple[str, asyncio.subprocess.Process]] = field(default_factory=list)
    daemon_config: Path | None = None
    ran: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)

    def rewrite(self, text: str) -> str:
        for old, new in self.rewrites.items():
            text = text.replace(old, new)
        return text

    def expand(self, token: str) -> str:
        for old, new in self.rewrites.items():  # a bare port, as in `sandbox --port 8090`
            if token == old.rpartition(":")[2]:
                return new.rpartition(":")[2]
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m.group(1), m.group(0)), self.rewrite(token))


def commands(block: Block) -> Iterator[tuple[int, list[str]]]:
    """(README line, tokens) per command; ``\\`` continues a line, ``;`` and ``&&`` separate commands."""
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        start, text = index, lines[index]
        while text.endswith("\\") and index + 1 < len(lines):
            index += 1
            text = text[:-1] + " " + lines[index]
        index += 1
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token in (";", "&&"):
                if current:
                    yield block.line + 1 + start, current
                current = []
            else:
                current.append(token)


async def run_line(session: Session, where: str, tokens: list[str]) -> None:
    env_prefix: dict[str, str] = {}
    while tokens and re.fullmatch(r"\w+=.*", tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        env_prefix[name] = session.expand(value)
    program, args = tokens[0], [session.expand(t) for t in tokens[1:]]
    if program in SKIP:
        session.skipped.append(f"{where}: {program} ({SKIP[program]})")
    elif program in ("python", "python3") and args[:1] == ["-m"] and args[1].startswith(SKIP_MODULES):
        session.skipped.append(f"{where}: python -m {args[1]}")
    elif program == "set":
        pass  # `set -a` / `set +a`: every variable here is exported anyway
    elif program in (".", "source"):
        session.env.update(env_file(session.work / args[0]))
    elif program == "export":
        for assignment in args:
            name, _, value = assignment.partition("=")
            session.env[name] = value
    elif program == "plugpay-router":
        await run_router(session, where, args, env_prefix)
    elif program == "curl":
        await run_curl(session, where, args)
    else:
        pytest.fail(f"{where}: don't know how to run {program!r}: make it runnable or add it to SKIP")


async def run_curl(session: Session, where: str, args: list[str]) -> None:
    """A reader's look at a local stand-in: it must answer JSON (a redirect to a login page is a wrong header)."""
    curl = shutil.which("curl")
    if curl is None:
        session.skipped.append(f"{where}: curl (not installed)")
        return
    proc = await asyncio.create_subprocess_exec(
        curl, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=session.env
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"{where}: curl {shlex.join(args)}\n{err.decode()}"
    assert out.strip().startswith(b"{"), f"{where}: curl {shlex.join(args)} answered no JSON:\n{out.decode()}"


async def run_router(session: Session, where: str, args: list[str], env_prefix: dict[str, str]) -> None:
    command = args[0]
    if command in COVERED_ELSEWHERE:
        session.skipped.append(f"{where}: {command} ({COVERED_ELSEWHERE[command]})")
        return
    session.ran.add(command)
    env = {**session.env, **env_prefix}
    argv = [sys.executable, "-m", "router", *args]
    if command in BACKGROUND:
        with (session.work / f"{command}.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=session.work, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        session.background.append((command, proc))
        await wait_ready(session, command, args, env, proc)
        return
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=session.work, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"{where}: plugpay-router {shlex.join(args)}\n{out.decode()}{err.decode()}"
    if command == "trigger":
        await settled(session)


async def wait_ready(
    session: Session, command: str, args: list[str], env: dict[str, str], proc: asyncio.subprocess.Process
) -> None:
    log = session.work / f"{command}.log"
    if command == "standins":

        async def listening() -> bool:
            assert proc.returncode is None, log.read_text()
            return "Waiting for mail and requests" in log.read_text()

        await wait_until(listening, 20, "the stand-ins to listen")
        return
    if command == "sandbox":
        url = f"http://127.0.0.1:{args[args.index('--port') + 1]}/v2/auth/tenants/me"
    else:
        session.daemon_config = session.work / args[args.index("-c") + 1]
        server = load_config(session.daemon_config, env=env).server
        url = f"http://{server.host}:{server.port}/healthz"

    async def up() -> bool:
        assert proc.returncode is None, log.read_text()
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                return (await client.get(url, headers={"Accept": "application/json"})).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(up, 20, f"{command} to answer on {url}")


async def settled(session: Session) -> None:
    """Wait until the running daemon has routed every event and finished every delivery."""
    assert session.daemon_config is not None, "trigger before serve"
    config = load_config(session.daemon_config, env=session.env)

    async def nothing_pending() -> bool:
        store = make_store(config.store.url, base=session.daemon_config.parent if session.daemon_config else None)
        await store.open()
        try:
            events = await store.list_events(EventFilter(status="pending"), limit=10)
            deliveries = await store.list_deliveries(DeliveryFilter(status="pending"), limit=10)
        finally:
            await store.close()
        return not events and not deliveries

    try:
        await wait_until(nothing_pending, 20, "the daemon to finish the triggered event")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{(session.work / 'serve.log').read_text()}") from None


async def test_every_shell_block_of_the_readme_and_the_reference_runs(tmp_path):
    work = tmp_path / "work"
    (work / "deploy").mkdir(parents=True)
    shutil.copy(EXAMPLE, work / "config.example.yaml")
    shutil.copy(ENV_EXAMPLE, work / "deploy" / ENV_EXAMPLE.name)
    reader_variables = config_variables(EXAMPLE.read_text()) | set(env_file(ENV_EXAMPLE))
    session = Session(
        work=work,
        env={k: v for k, v in os.environ.items() if k not in reader_variables},
        rewrites={
            "127.0.0.1:8080": f"127.0.0.1:{reserved_port()}",
            "127.0.0.1:8090": f"127.0.0.1:{reserved_port()}",
            "127.0.0.1:9100": f"127.0.0.1:{free_port_base(len(PORT_ORDER))}",
        },
    )
    try:
        for block in BLOCKS:
            if block.marker in ("config", "file"):
                (work / block.arg).write_text(session.rewrite(block.text))
            elif block.lang == "sh" and block.marker != "skip":
                for line, tokens in commands(block):
                    await run_line(session, f"{block.page}:{line}", tokens)
    finally:
        codes = {}
        for name, proc in session.background:
            proc.send_signal(signal.SIGTERM)
            codes[name] = await asyncio.wait_for(proc.wait(), 30)
    assert codes.get("serve") == 0, (work / "serve.log").read_text()
    assert session.ran >= MUST_RUN, f"commands no longer shown or run: {MUST_RUN - session.ran}"
    # The first config's welcome mail and signed enrolment reached the stand-ins the reader watches.
    received = (work / "standins.log").read_text()
    assert re.search(r"^mail .* -> bilal@example\.nl: 'Welkom, Bilal'$", received, re.M), received
    assert re.search(r"^http +POST /lms/enrolments \(signature ok\) .*bilal@example\.nl", received, re.M), received
