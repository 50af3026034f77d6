"""The ``admin:`` section checked and typed: the listener's address, its token, and who it answers.

The token opens the admin API and the dashboard, so it must be one nobody can guess (``secret_strength``:
at least ``MIN_TOKEN_LENGTH`` characters, no placeholder, no env-file leftovers); the error says how to
make one. ``hosts`` are the Host names the listener serves (by default its own address and ``localhost``,
plus the host of ``public_url``): any other Host header gets 421, so a page that rebinds a DNS name to
127.0.0.1 in an operator's browser cannot reach the listener. ``public_url`` (https) and
``trusted_proxies`` (addresses whose ``X-Forwarded-Proto: https`` counts) mark the session cookie Secure.
``users`` are logins limited to some of the file's ``shops:`` (``router.admin.access``): each has a unique
name, a token as strong as ``token`` and unlike every other, and a non-empty list of the file's shop names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from router.config.coerce import parse_listen
from router.config.model import AdminConfig, AdminUser, ServerConfig
from router.config.secret_strength import weakness
from router.config.source import Problems, YList, YMap, line_of
from router.text import suggest

MIN_TOKEN_LENGTH = 16
MAKE_ONE = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
WILDCARDS = ("0.0.0.0", "::", "")
USER_KEYS = ("name", "token", "shops")
USER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@-]{0,62}[A-Za-z0-9])?")
USER_SHAPE = 'expected a mapping such as {name: agency-jan, token: "${JAN_ADMIN_TOKEN}", shops: [cursusshop]}'


def admin_config(
    problems: Problems, root: YMap, values: dict[str, Any], server: ServerConfig, offline: bool = False
) -> AdminConfig:
    node = root.get("admin") if isinstance(root.get("admin"), YMap) else None

    def problem(key: str, message: str) -> None:
        problems.add(line_of(node, key), f"admin.{key}", message)

    listen = values.pop("listen", None)
    if listen is not None:
        try:
            host, values["port"] = parse_listen(listen)
            values["host"] = host if not str(listen).startswith(":") else AdminConfig.host
            values["listen_given"] = True
        except ValueError as exc:
            problem("listen", str(exc).replace("0.0.0.0:8080", "127.0.0.1:8081"))
    token = values.get("token")
    checked = token is not None and not offline and "admin.token" not in problems.unset  # an unset one: said once
    if checked and (reason := weakness(str(token), minimum=MIN_TOKEN_LENGTH)):
        problem("token", f"{reason}; {MAKE_ONE}")
    public_url = values.get("public_url")
    if public_url is not None:
        parts = urlsplit(str(public_url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem(
                "public_url", f"expected the dashboard's address such as https://router.shop.nl, got {public_url!r}"
            )
    values["hosts"] = _hosts(values.get("hosts"), values.get("host", AdminConfig.host), public_url, problem)
    values["trusted_proxies"] = tuple(_addresses(values.get("trusted_proxies") or (), problem))
    if values.get("users") is not None and node is not None:
        values["users"] = _Users(problems, root, offline).read(node, token)
    admin = AdminConfig(**values)
    if admin.port == server.port and admin.enabled:
        problem("listen", f"port {admin.port} is server.listen's: give the admin its own")
    return admin


def _hosts(given: Any, listen_host: str, public_url: Any, problem: Callable[[str, str], None]) -> tuple[str, ...]:
    if given is not None:
        names = [str(name).strip().lower().strip("[]") for name in given]
        if not all(names):
            problem("hosts", "expected host names such as [localhost, router.shop.nl]")
        return tuple(name for name in names if name)
    names = ["localhost", "127.0.0.1", "::1"]
    if listen_host not in WILDCARDS:
        names.append(listen_host.lower())
    if public_url and (host := urlsplit(str(public_url)).hostname):
        names.append(host.lower())
    return tuple(dict.fromkeys(names))


def _addresses(given: Any, problem: Callable[[str, str], None]) -> list[str]:
    out = []
    for item in given:
        try:
            out.append(str(ipaddress.ip_address(str(item).strip())))
        except ValueError:
            problem("trusted_proxies", f"expected IP addresses of the proxies in front, got {item!r}")
    return out


class _Users:
    """``admin.users``: every entry checked, each problem at its file:line and key."""

    def __init__(self, problems: Problems, root: YMap, offline: bool) -> None:
        self.problems, self.root, self.offline = problems, root, offline
        shops = root.get("shops")
        self.shops = [str(name) for name in shops] if isinstance(shops, YMap) else []
        self.names: dict[str, int] = {}  # name -> line of its first entry
        self.tokens: dict[str, str] = {}  # token -> key path of the entry that has it

    def read(self, admin: YMap, token: Any) -> tuple[AdminUser, ...]:
        given = admin.get("users")
        line = line_of(admin, "users")
        if not isinstance(given, YList):
            return ()  # not a list: the section's own check said so
        if "shops" not in self.root:
            self.problems.add(line, "admin.users", "limits logins to some of the file's shops: the file has no shops:")
            return ()
        if not token and "admin.token" not in self.problems.unset:
            self.problems.add(line, "admin.users", "needs admin.token too: the token that sees and does everything")
        if token and not self.offline:
            self.tokens[str(token)] = "admin.token"
        users = []
        for index, entry in enumerate(given):
            path = f"admin.users[{index}]"
            if not isinstance(entry, YMap):
                self.problems.add(line_of(given, index), path, USER_SHAPE)
                continue
            self.problems.unknown_keys(entry, path, USER_KEYS)
            name, secret, shops = self._name(entry, path), self._token(entry, path), self._shops(entry, path)
            if name is not None and secret is not None and shops:
                users.append(AdminUser(name, secret, shops))
        return tuple(users)

    def _required(self, entry: YMap, path: str, key: str) -> Any:
        value = entry.get(key)
        if value is None:
            self.problems.add(line_of(entry, key), f"{path}.{key}", "is required")
        return value

    def _name(self, entry: YMap, path: str) -> str | None:
        name = self._required(entry, path, "name")
        if name is None:
            return None
        text, line = str(name), line_of(entry, "name")
        if not isinstance(name, str) or not USER_NAME.fullmatch(text):
            self.problems.add(line, f"{path}.name", "a user's name is 1-64 letters, digits, '.', '-', '_' and '@'")
            return None
        if text in self.names:
            message = f"another user is called {text!r} (at line {self.names[text]}): give each its own name"
            self.problems.add(line, f"{path}.name", message)
            return None
        self.names[text] = line
        return text

    def _token(self, entry: YMap, path: str) -> str | None:
        token, key = self._required(entry, path, "token"), f"{path}.token"
        if token is None or key in self.problems.unset:
            return None
        line = line_of(entry, "token")
        if not isinstance(token, str):
            self.problems.add(line, key, f"expected text, got {type(token).__name__}")
            return None
        if self.offline:
            return token  # its value is judged by the commands that use it, as admin.token's is
        if reason := weakness(token, minimum=MIN_TOKEN_LENGTH):
            self.problems.add(line, key, f"{reason}; {MAKE_ONE}")
            return None
        if token in self.tokens:
            self.problems.add(line, key, f"is {self.tokens[token]}'s too: give each user a token of its own")
            return None
        self.tokens[token] = key
        return token

    def _shops(self, entry: YMap, path: str) -> tuple[str, ...]:
        shops = self._required(entry, path, "shops")
        if shops is None:
            return ()
        if not isinstance(shops, YList) or not shops:
            self.problems.add(line_of(entry, "shops"), f"{path}.shops", "expected a non-empty list of shop names")
            return ()
        known, found, ok = self.shops, [], True
        for index, shop in enumerate(shops):
            if not known:
                return ()  # shops: is not a mapping of shops: said there, once
            if not isinstance(shop, str) or shop not in known:
                message = f"unknown shop {shop!r}{suggest(str(shop), known)} (known: {', '.join(known)})"
                self.problems.add(line_of(shops, index), f"{path}.shops[{index}]", message)
                ok = False
            elif shop not in found:
                found.append(shop)
        return tuple(found) if ok else ()
