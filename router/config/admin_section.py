"""The ``admin:`` section checked and typed: the listener's address, its token, and who it answers.

The token opens the admin API and the dashboard, so it must be one nobody can guess (``secret_strength``:
at least ``MIN_TOKEN_LENGTH`` characters, no placeholder, no env-file leftovers); the error says how to
make one. ``hosts`` are the Host names the listener serves (by default its own address and ``localhost``,
plus the host of ``public_url``): any other Host header gets 421, so a page that rebinds a DNS name to
127.0.0.1 in an operator's browser cannot reach the listener. ``public_url`` (https) and
``trusted_proxies`` (addresses whose ``X-Forwarded-Proto: https`` counts) mark the session cookie Secure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from router.config.coerce import parse_listen
from router.config.model import AdminConfig, ServerConfig
from router.config.secret_strength import weakness
from router.config.source import Problems, YMap, line_of

MIN_TOKEN_LENGTH = 16
MAKE_ONE = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
WILDCARDS = ("0.0.0.0", "::", "")


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
