"""``plugpay-router init DIR [--systemd]``: a working shop folder, so a new shop never starts from a copied file.

It writes the example shop of ``router/examples`` into DIR as files that need nothing outside the folder:
``config.yaml`` (the example config with the dashboard turned on), ``templates/`` (the mail templates the
config names), ``env`` (every variable the config reads, each with a comment saying where its value comes
from, mode 0600), ``config.tests.yaml`` (rule tests for ``plugpay-router test``) and, with ``--systemd``,
``plugpay-router.service`` (the unit, pointing at DIR and at this installation's program). It never
overwrites a file: one that exists is kept and said so. ``check`` passes on the folder once the env file is
filled in; its placeholders are refused until then.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from router.cli.errors import UserError

UNIT_NAME = "plugpay-router.service"
TEMPLATES = ("welcome.html",)
# The example's admin block, commented out (the demo runs without a dashboard); a shop folder has it on.
_ADMIN_OFF = re.compile(r"^# admin:.*\n(?:#   .*\n)+", re.M)
# Folders under these are hidden by the unit's ProtectHome=true: the unit then uses ProtectHome=read-only.
_HOMES = ("/home", "/root", "/run/user")
_PRIVATE_TMP = ("/tmp", "/var/tmp")
# What a unit file line can name without quoting or systemd's % and \ escapes.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./@+:=-]+")


@dataclass(frozen=True)
class File:
    name: str  # relative to the folder
    text: str
    mode: int = 0o644


def example(*parts: str) -> str:
    """A file of the packaged example shop (``router/examples``)."""
    ref = resources.files("router").joinpath("examples", *parts)
    if not ref.is_file():
        raise UserError(f"the example shop is missing {'/'.join(parts)}; reinstall plugpay-router with pip install .")
    return ref.read_text(encoding="utf-8")


def shop_config(example_text: str) -> str:
    """The example config with its commented-out ``admin:`` block turned on."""
    block = _ADMIN_OFF.search(example_text)
    if block is None:
        raise UserError("the example config has no admin block to turn on; reinstall plugpay-router")
    on = "".join(line[2:] + "\n" for line in block.group(0).splitlines())
    return example_text[: block.start()] + on + example_text[block.end() :]


def program() -> str:
    """This installation's ``plugpay-router``, as a unit's ExecStart names it."""
    interpreter = Path(os.path.abspath(sys.executable))  # not resolved: a virtualenv's python is a link
    script = interpreter.parent / "plugpay-router"
    return str(script) if os.access(script, os.X_OK) else f"{interpreter} -m router"


def systemd_unit(folder: Path, program_path: str) -> str:
    """The unit of the packaged template, running ``program_path`` on the shop folder ``folder`` (absolute)."""
    places = (str(folder), program_path.split()[0])
    protect_home = "read-only" if any(_under(place, _HOMES) for place in places) else "true"
    text = example(UNIT_NAME)
    for token, value in (("@FOLDER@", str(folder)), ("@PROGRAM@", program_path), ("@PROTECT_HOME@", protect_home)):
        text = text.replace(token, value)
    return text


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + "/") for root in roots)


def shop_files(folder: Path, *, systemd: bool) -> list[File]:
    files = [
        File("config.yaml", shop_config(example("config.example.yaml"))),
        *(File(f"templates/{name}", example("templates", name)) for name in TEMPLATES),
        File("env", example("plugpay-router.env"), 0o600),
        File("config.tests.yaml", example("config.tests.yaml")),
    ]
    if systemd:
        files.append(File(UNIT_NAME, systemd_unit(folder, program())))
    return files


def write_new(path: Path, text: str, mode: int) -> bool:
    """Write ``path`` unless it exists (then False); never truncates, even when another writer races us."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def cmd_init(args: argparse.Namespace) -> int:
    given = Path(args.folder)
    folder = given.absolute()
    if args.systemd and not _PLAIN_PATH.fullmatch(str(folder)):
        raise UserError(
            f"{folder}: a systemd unit cannot name this folder as it is; choose a path of letters, digits and"
            " ./_-@+: only (such as /etc/plugpay-router)"
        )
    if args.systemd and not all(_PLAIN_PATH.fullmatch(part) for part in program().split()):
        raise UserError(
            f"{program()}: a systemd unit cannot name this program as it is; install plugpay-router in a"
            " virtualenv whose path has letters, digits and ./_-@+: only (such as /opt/plugpay-router)"
        )
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{given} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for file in shop_files(folder, systemd=args.systemd):
            shown = given / file.name
            if write_new(folder / file.name, file.text, file.mode):
                print(f"wrote {shown}")
            else:
                print(f"kept  {shown} (it exists: not overwritten)")
    except OSError as exc:
        raise UserError(f"cannot write the shop folder {given}: {exc.strerror or exc}") from None
    print(next_steps(given, folder, systemd=args.systemd))
    if args.systemd and _under(str(folder), _PRIVATE_TMP):
        print(
            f"warning: {folder} is under /tmp, which the unit's PrivateTmp=true hides from the service", file=sys.stderr
        )
    return 0


def next_steps(given: Path, folder: Path, *, systemd: bool) -> str:
    config, env = given / "config.yaml", given / "env"
    lines = [
        "",
        "Next:",
        f"  1. Fill in {env}: each line says where its value comes from (placeholders fail check).",
        f"  2. Check it with those values:  (set -a; . {env}; set +a; plugpay-router check -c {config})",
        f"  3. Run the rule tests:          plugpay-router test -c {config} {given / 'config.tests.yaml'}",
        "  4. Make the rules your shop's (the README's cookbook), and keep the tests in step.",
    ]
    if systemd:
        lines += [
            f"  5. Install the unit:  sudo install -m 0644 {folder / UNIT_NAME} /etc/systemd/system/"
            " && sudo systemctl daemon-reload",
            "     then, with the env file filled in:  sudo systemctl enable --now plugpay-router",
            "     (the user and group plugpay-router must exist: docs/operating.md, Running under systemd)",
        ]
    else:
        lines.append(f"  5. Serve it:  plugpay-router serve -c {config}  (the store: ROUTER_STORE_URL in {env})")
    return "\n".join(lines)
