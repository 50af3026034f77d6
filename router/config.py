"""Load the YAML config: interpolate ``${VAR}``, validate every key, and build typed, immutable objects.

The file is the product's user interface, so errors matter more than anything else here: every problem
names the file, line and key path (``config.yaml:31: rules[2].actions[0].connector: unknown connector
'crn' (known: crm, mail)``), suggests the nearest valid name for typos, and all problems are reported
at once. Unknown keys are errors. ``${VAR}`` / ``${VAR:-default}`` are read from the environment when the
file loads (a number or true/false setting also takes the text a variable gives, such as
``port: "${SMTP_PORT:-587}"``); values that look like secrets are remembered so logs and APIs can mask them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from connectors import CONNECTOR_TYPES
from connectors.base import Field, action_defaults, check_action, check_settings
from connectors.protection import BREAKER_FIELDS, check_breaker
from connectors.units import Rate, parse_duration, parse_rate
from router import templates
from router.events import TRIGGERS, canonical_trigger
from router.rules import Action, Rule, RuleSet
from router.yamlsrc import ConfigError, Problem, Problems, YList, YMap, line_of, paused_gc, read_source, suggest
from router.yamlsrc import load as load_yaml

DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
DEFAULT_API_RETRY = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
SECRET_NAME = re.compile(r"token|secret|password|passwd|key|auth|credential", re.IGNORECASE)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    path: str = "/webhooks/plugandpay"
    max_body_bytes: int = 65536
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    max_connections: int = 1000


@dataclass(frozen=True)
class AdminConfig:
    token: str | None = None


@dataclass(frozen=True)
class SignatureConfig:
    header: str = "X-Signature"
    encoding: str = "hex"


@dataclass(frozen=True)
class PlugAndPayConfig:
    api_url: str = "https://api.plugandpay.nl"
    api_token: str | None = None
    webhook_key: str | None = None
    signature: SignatureConfig = field(default_factory=SignatureConfig)
    timeout: float = 25.0
    concurrency: int = 16
    retry: tuple[float, ...] = DEFAULT_API_RETRY
    lease: float | None = None  # how long a claimed event stays with its instance; None: timeout * 3 + 30 s


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///var/lib/plugpay-router/router.db"


@dataclass(frozen=True)
class DeliveryConfig:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = 15.0
    concurrency: int = 32
    lease: float | None = None  # how long a claimed delivery stays with its instance; None: timeout * 2 + 30 s


@dataclass(frozen=True)
class RetentionConfig:
    events: float = 30 * 86400.0
    dedupe_window: float = 7 * 86400.0
    keep_payloads: bool = False
    interval: float = 600.0


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    type: str
    settings: Mapping[str, Any]
    schedule: tuple[float, ...] | None = None
    rate_limit: Rate | None = None
    breaker: Mapping[str, Any] | None = None  # overrides of connectors.protection.BreakerSettings


@dataclass(frozen=True)
class Config:
    file: str
    version: str
    server: ServerConfig
    admin: AdminConfig
    plugandpay: PlugAndPayConfig
    store: StoreConfig
    delivery: DeliveryConfig
    retention: RetentionConfig
    connectors: Mapping[str, ConnectorConfig]
    rules: RuleSet
    secrets: frozenset[str] = frozenset()
    warnings: tuple[Problem, ...] = ()  # not errors, but worth a look (``check`` prints them)

    def schedule_for(self, rule: Rule, action: Action) -> tuple[float, ...]:
        """The retry schedule of one action: the rule's, else its connector's, else the global one."""
        if rule.schedule is not None:
            return rule.schedule
        connector = self.connectors.get(action.connector)
        if connector is not None and connector.schedule is not None:
            return connector.schedule
        return self.delivery.schedule


# ---------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file. Raises ConfigError listing every problem."""
    file = str(path)
    return parse_config(read_source(file, "config"), file, os.environ if env is None else env)


def parse_config(text: str, file: str = "config.yaml", env: Mapping[str, str] | None = None) -> Config:
    with paused_gc():
        return _parse_config(text, file, env)


def _parse_config(text: str, file: str, env: Mapping[str, str] | None) -> Config:
    problems = Problems(file)
    root = load_yaml(text, file)
    if root is None:
        root = YMap()
        root.line, root.lines = 1, {}
    if not isinstance(root, YMap):
        raise ConfigError([Problem(file, 1, "", "the config must be a mapping of sections")])
    secrets: set[str] = set()
    _interpolate(root, "", os.environ if env is None else env, problems, secrets)
    return _Builder(problems, hashlib.sha256(text.encode()).hexdigest()[:12], secrets).build(root)


def _interpolate(node: Any, path: str, env: Mapping[str, str], problems: Problems, secrets: set[str]) -> None:
    # Assigning to existing keys or indexes does not resize, so iterating the live container is safe; the
    # key path is only built where it is needed (large rule files have hundreds of thousands of values).
    items: Any = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, YMap | YList):
            _interpolate(value, _join(path, key), env, problems, secrets)
        elif isinstance(value, str) and "${" in value:
            sub = _join(path, key)

            def replace(match: re.Match[str], key: Any = key, sub: str = sub) -> str:
                name, default = match.group(1), match.group(2)
                found = env.get(name)
                if found is None or (found == "" and default is not None):
                    if default is None:
                        problems.add(line_of(node, key), sub, f"environment variable {name} is not set")
                        return ""
                    found = default
                if found and (SECRET_NAME.search(name) or SECRET_NAME.search(str(key))):
                    secrets.add(found)
                return found

            node[key] = _VAR.sub(replace, value)


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _line_at(node: Any, dotted: str) -> int:
    """The line of a nested key such as ``sign.secret`` inside ``node``, or of its nearest parent."""
    line = getattr(node, "line", 1)
    for part in dotted.split("."):
        if not isinstance(node, YMap) or part not in node:
            break
        line, node = line_of(node, part), node[part]
    return line


# ---------------------------------------------------------------- field coercion


def _typed_text(text: str, kind: str) -> Any:
    """Text in a number or true/false setting, as ``${VAR}`` makes it (``port: "${SMTP_PORT:-587}"``).

    Environment variables are always text, so a setting typed int, number or bool also takes the text of
    one; anything else is returned unchanged and fails the type check with the usual message.
    """
    stripped = text.strip()
    if kind == "int" and re.fullmatch(r"[+-]?[0-9]+", stripped):
        return int(stripped)
    if kind == "number" and re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", stripped):
        return float(stripped)
    if kind == "bool" and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return text


def coerce(spec: Field, value: Any) -> Any:
    """Check one value against a Field; returns the typed value or raises ValueError."""
    kind = spec.kind
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"expected text, got {type(value).__name__}")
        value = str(value)
        if spec.choices and value not in spec.choices:
            raise ValueError(f"expected one of {', '.join(spec.choices)}, got {value!r}{suggest(value, spec.choices)}")
        return value
    if isinstance(value, str) and kind in ("int", "bool", "number"):
        value = _typed_text(value, kind)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind == "duration":
        return parse_duration(value)
    if kind == "durations":
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty list of durations such as [5s, 5m, 30m]")
        return tuple(parse_duration(v) for v in value)
    if kind == "rate":
        return parse_rate(value)
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a mapping, got {type(value).__name__}")
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return list(value)
    if kind == "ids":
        items = value if isinstance(value, list) else [value]
        out = set()
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).strip():
                raise ValueError(f"expected ids (numbers), got {item!r}")
            out.add(str(item).strip())
        return frozenset(out)
    return value


def _listen(value: Any) -> tuple[str, int]:
    text = str(value)
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port such as '0.0.0.0:8080', got {text!r}")
    return (host.strip("[]") or "0.0.0.0"), int(port)


SERVER_FIELDS = {
    "listen": Field("any", default="0.0.0.0:8080"),
    "path": Field("str", default="/webhooks/plugandpay"),
    "max_body_bytes": Field("int", default=65536),
    "header_timeout": Field("duration", default=10.0),
    "body_timeout": Field("duration", default=30.0),
    "keepalive_timeout": Field("duration", default=75.0),
    "max_connections": Field("int", default=1000),
}
ADMIN_FIELDS = {"token": Field("str", secret=True)}
SIGNATURE_FIELDS = {
    "header": Field("str", default="X-Signature"),
    "encoding": Field("str", default="hex", choices=("hex", "base64")),
}
PLUGANDPAY_FIELDS = {
    "api_url": Field("str", default="https://api.plugandpay.nl"),
    "api_token": Field("str", secret=True),
    "webhook_key": Field("str", secret=True),
    "signature": Field("any"),
    "timeout": Field("duration", default=25.0),
    "concurrency": Field("int", default=16),
    "retry": Field("durations", default=DEFAULT_API_RETRY),
    "lease": Field("duration"),
}
STORE_FIELDS = {"url": Field("str", default="sqlite:///var/lib/plugpay-router/router.db")}
DELIVERY_FIELDS = {
    "schedule": Field("durations", default=DEFAULT_SCHEDULE),
    "timeout": Field("duration", default=15.0),
    "concurrency": Field("int", default=32),
    "lease": Field("duration"),
}
RETENTION_FIELDS = {
    "events": Field("duration", default=30 * 86400.0),
    "dedupe_window": Field("duration", default=7 * 86400.0),
    "keep_payloads": Field("bool", default=False),
    "interval": Field("duration", default=600.0),
}
CONNECTOR_COMMON = {
    "type": Field("str", required=True),
    "schedule": Field("durations"),
    "rate_limit": Field("rate"),
    "breaker": Field("any"),  # validated against connectors.protection.BREAKER_FIELDS
}
RULE_KEYS = (
    "name",
    "description",
    "trigger",
    "products",
    "checkouts",
    "upsells",
    "source_rules",
    "first_only",
    "when",
    "schedule",
    "actions",
)
ACTION_COMMON = ("connector", "for_each")
SECTIONS = (
    "version",
    "server",
    "admin",
    "plugandpay",
    "store",
    "delivery",
    "retention",
    "connectors",
    "rules",
)


# ---------------------------------------------------------------- building


@dataclass
class _Builder:
    problems: Problems
    version: str
    secrets: set[str]

    def build(self, root: YMap) -> Config:
        self._unknown(root, "", SECTIONS)
        version = root.get("version", 1)
        if version != 1:
            self.problems.add(line_of(root, "version"), "version", f"unsupported config version {version!r} (use 1)")
        server = self._server(root)
        admin = AdminConfig(**self._fields(root, "admin", ADMIN_FIELDS))
        plugandpay = self._plugandpay(root)
        store = StoreConfig(**self._fields(root, "store", STORE_FIELDS))
        delivery = DeliveryConfig(**self._fields(root, "delivery", DELIVERY_FIELDS))
        retention = RetentionConfig(**self._fields(root, "retention", RETENTION_FIELDS))
        if retention.events < retention.dedupe_window:
            self.problems.add(
                line_of(root.get("retention"), "events"),
                "retention.events",
                "must be at least retention.dedupe_window (a duplicate must find the event it repeats)",
            )
        for name, value, minimum in (
            ("delivery.concurrency", delivery.concurrency, 1),
            ("plugandpay.concurrency", plugandpay.concurrency, 1),
        ):
            if value < minimum:
                section, key = name.split(".")
                self.problems.add(line_of(root.get(section), key), name, f"must be at least {minimum}")
        for name, lease, timeout in (
            ("delivery.lease", delivery.lease, delivery.timeout),
            ("plugandpay.lease", plugandpay.lease, plugandpay.timeout),
        ):
            if lease is not None and lease <= timeout:
                section, key = name.split(".")
                self.problems.add(
                    line_of(root.get(section), key), name, f"must be longer than {section}.timeout ({timeout:g}s)"
                )
        connectors = self._connectors(root)
        rules = self._rules(root, connectors)
        self.problems.raise_if_any()
        return Config(
            file=self.problems.file,
            version=self.version,
            server=server,
            admin=admin,
            plugandpay=plugandpay,
            store=store,
            delivery=delivery,
            retention=retention,
            connectors=connectors,
            rules=RuleSet(rules),
            secrets=frozenset(s for s in self.secrets if len(s) >= 4),
            warnings=tuple(self.problems.warnings),
        )

    # -- helpers

    def _unknown(self, node: YMap, path: str, known: Any) -> None:
        for key in node:
            if key not in known:
                self.problems.add(line_of(node, key), _join(path, key), f"unknown key{suggest(key, known)}")

    def _mapping(self, parent: Any, key: Any, path: str) -> YMap | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            return None
        if not isinstance(value, YMap):
            self.problems.add(line_of(parent, key), path, f"expected a mapping, got {type(value).__name__}")
            return None
        return value

    def _fields(
        self,
        parent: Any,
        key: str,
        fields: Mapping[str, Field],
        path: str | None = None,
        skip: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Validate ``parent[key]`` against Field specs; returns the typed values (defaults filled in)."""
        path = path or key
        node = self._mapping(parent, key, path)
        out: dict[str, Any] = {}
        if node is not None:
            self._unknown(node, path, (*fields, *skip))
        for name, spec in fields.items():
            if node is not None and name in node and node[name] is not None:
                try:
                    value = coerce(spec, node[name])
                except ValueError as exc:
                    self.problems.add(line_of(node, name), _join(path, name), str(exc))
                    continue
                out[name] = value
                if spec.secret and isinstance(value, str) and value:
                    self.secrets.add(value)
            elif spec.required:
                where = node if node is not None else parent
                self.problems.add(line_of(where, key if node is None else name), _join(path, name), "is required")
            elif spec.default is not None:
                out[name] = spec.default
        return out

    # -- sections

    def _server(self, root: YMap) -> ServerConfig:
        values = self._fields(root, "server", SERVER_FIELDS)
        host, port = "0.0.0.0", 8080
        try:
            host, port = _listen(values.pop("listen", "0.0.0.0:8080"))
        except ValueError as exc:
            self.problems.add(line_of(root.get("server"), "listen"), "server.listen", str(exc))
        path = values.get("path", "/webhooks/plugandpay")
        if not str(path).startswith("/"):
            self.problems.add(line_of(root.get("server"), "path"), "server.path", "must start with '/'")
        if path in ("/healthz", "/readyz", "/metrics") or str(path).startswith("/api"):
            self.problems.add(line_of(root.get("server"), "path"), "server.path", f"{path} is reserved")
        for name in ("max_body_bytes", "header_timeout", "body_timeout", "keepalive_timeout", "max_connections"):
            if values.get(name, 1) <= 0:
                self.problems.add(line_of(root.get("server"), name), f"server.{name}", "must be positive")
        return ServerConfig(host=host, port=port, **values)

    def _plugandpay(self, root: YMap) -> PlugAndPayConfig:
        values = self._fields(root, "plugandpay", PLUGANDPAY_FIELDS)
        values.pop("signature", None)
        signature = SignatureConfig(
            **self._fields(root.get("plugandpay") or {}, "signature", SIGNATURE_FIELDS, "plugandpay.signature")
        )
        if not str(values.get("api_url", "")).startswith(("http://", "https://")):
            self.problems.add(
                line_of(root.get("plugandpay"), "api_url"),
                "plugandpay.api_url",
                "must be an http:// or https:// URL",
            )
        return PlugAndPayConfig(signature=signature, **values)

    def _connectors(self, root: YMap) -> dict[str, ConnectorConfig]:
        node = self._mapping(root, "connectors", "connectors")
        connectors: dict[str, ConnectorConfig] = {}
        for name, body in (node or {}).items():
            path = f"connectors.{name}"
            if not isinstance(body, YMap):
                self.problems.add(line_of(node, name), path, "expected a mapping with at least 'type'")
                continue
            kind = body.get("type")
            cls = CONNECTOR_TYPES.get(str(kind)) if kind is not None else None
            if kind is None:
                self.problems.add(line_of(node, name), f"{path}.type", "is required")
                continue
            if cls is None:
                self.problems.add(
                    line_of(body, "type"),
                    f"{path}.type",
                    f"unknown connector type {kind!r}{suggest(str(kind), CONNECTOR_TYPES)}"
                    f" (known: {', '.join(sorted(CONNECTOR_TYPES))})",
                )
                continue
            values = self._fields(node, name, {**CONNECTOR_COMMON, **cls.settings_fields}, path)
            common = {k: values.pop(k, None) for k in CONNECTOR_COMMON}
            for key, spec in cls.settings_fields.items():
                if spec.secret and isinstance(values.get(key), str):
                    self.secrets.add(values[key])
                elif spec.secret and isinstance(values.get(key), Mapping):  # e.g. sign: {secret: ...}
                    self.secrets.update(v for k, v in values[key].items() if SECRET_NAME.search(k) and v)
            if common["breaker"] is not None:
                common["breaker"] = self._fields(body, "breaker", BREAKER_FIELDS, f"{path}.breaker")
                for key, message in check_breaker(common["breaker"]):
                    self.problems.add(line_of(body["breaker"], key), f"{path}.breaker.{key}", message)
            if not any(p.path.startswith(f"{path}.") for p in self.problems.items):
                for key, message in check_settings(cls, values):
                    self.problems.add(_line_at(body, key), f"{path}.{key}", message)
            connectors[name] = ConnectorConfig(
                name=name,
                type=str(kind),
                settings=values,
                schedule=common["schedule"],
                rate_limit=common["rate_limit"],
                breaker=common["breaker"],
            )
        return connectors

    def _rules(self, root: YMap, connectors: Mapping[str, ConnectorConfig]) -> list[Rule]:
        node = root.get("rules")
        if node is None:
            return []
        if not isinstance(node, YList):
            self.problems.add(line_of(root, "rules"), "rules", "expected a list of rules")
            return []
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for index, body in enumerate(node):
            path = f"rules[{index}]"
            if not isinstance(body, YMap):
                self.problems.add(line_of(node, index), path, "expected a mapping")
                continue
            rule = self._rule(body, path, index, connectors)
            if rule is None:
                continue
            if rule.name in names:
                self.problems.add(
                    line_of(body, "name"),
                    f"{path}.name",
                    f"duplicate rule name {rule.name!r} (first at line {names[rule.name]})",
                )
            names[rule.name] = line_of(body, "name")
            rules.append(rule)
        return rules

    def _where(self, line: int) -> str:
        return f"{self.problems.file}:{line}"

    def _rule(self, body: YMap, path: str, index: int, connectors: Mapping[str, ConnectorConfig]) -> Rule | None:
        self._unknown(body, path, RULE_KEYS)
        ok = True
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(line_of(body, "name"), f"{path}.name", "is required (a unique name for the rule)")
            ok = False
        triggers = self._triggers(body, path)
        scopes: dict[str, frozenset[str] | None] = {}
        for key in ("products", "checkouts", "upsells", "source_rules"):
            scopes[key] = None
            if body.get(key) is not None:
                try:
                    scopes[key] = coerce(Field("ids"), body[key])
                except ValueError as exc:
                    self.problems.add(line_of(body, key), f"{path}.{key}", str(exc))
                    continue
                if not scopes[key]:
                    self.problems.add(
                        line_of(body, key), f"{path}.{key}", "is empty: list at least one id, or remove the key"
                    )
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            self.problems.add(line_of(body, "description"), f"{path}.description", "expected text")
            description = None
        first_only = body.get("first_only", False)
        if not isinstance(first_only, bool):
            self.problems.add(line_of(body, "first_only"), f"{path}.first_only", "expected true or false")
            first_only = False
        when = None
        if body.get("when") is not None:
            try:
                when = templates.compile_condition(str(body["when"]), self._where(line_of(body, "when")))
            except jinja2.TemplateSyntaxError as exc:
                self.problems.add(
                    line_of(body, "when"), f"{path}.when", f"invalid expression: {templates.syntax_message(exc)}"
                )
        schedule = None
        if body.get("schedule") is not None:
            try:
                schedule = coerce(Field("durations"), body["schedule"])
            except ValueError as exc:
                self.problems.add(line_of(body, "schedule"), f"{path}.schedule", str(exc))
        actions = self._actions(body, path, connectors)
        if not ok or triggers is None:
            return None
        return Rule(
            name=str(name).strip(),
            triggers=triggers,
            actions=tuple(actions),
            when=when,
            first_only=first_only,
            schedule=schedule,
            position=index,
            where=self._where(body.line),
            description=description,
            **scopes,
        )

    def _triggers(self, body: YMap, path: str) -> tuple[str, ...] | None:
        raw = body.get("trigger")
        items = raw if isinstance(raw, list) else [raw]
        if raw is None or not items or not all(isinstance(t, str) and t.strip() for t in items):
            self.problems.add(
                line_of(body, "trigger"),
                f"{path}.trigger",
                "is required: a trigger name such as order_paid, or a list of them",
            )
            return None
        triggers = tuple(dict.fromkeys(canonical_trigger(str(t)) for t in items))
        for trigger in triggers:
            if trigger not in TRIGGERS:
                self.problems.warn(
                    line_of(body, "trigger"),
                    f"{path}.trigger",
                    f"{trigger!r} is not a known Plug&Pay trigger; it matches only webhooks whose trigger_type is"
                    f" exactly {trigger!r}{suggest(trigger, TRIGGERS)} (known: {', '.join(TRIGGERS)})",
                )
        return triggers

    def _actions(self, body: YMap, path: str, connectors: Mapping[str, ConnectorConfig]) -> list[Action]:
        node = body.get("actions")
        if not isinstance(node, YList) or not node:
            self.problems.add(line_of(body, "actions"), f"{path}.actions", "is required: a list of actions")
            return []
        actions = []
        for index, action in enumerate(node):
            apath = f"{path}.actions[{index}]"
            if not isinstance(action, YMap):
                self.problems.add(line_of(node, index), apath, "expected a mapping with a 'connector'")
                continue
            built = self._action(action, apath, index, connectors)
            if built is not None:
                actions.append(built)
        return actions

    def _action(self, node: YMap, path: str, index: int, connectors: Mapping[str, ConnectorConfig]) -> Action | None:
        name = node.get("connector")
        if not isinstance(name, str) or name not in connectors:
            known = ", ".join(connectors) or "none configured"
            message = (
                "is required"
                if name is None
                else (f"unknown connector {name!r}{suggest(str(name), connectors)} (known: {known})")
            )
            self.problems.add(line_of(node, "connector"), f"{path}.connector", message)
            return None
        cls = CONNECTOR_TYPES[connectors[name].type]
        allowed = (*ACTION_COMMON, *sorted(cls.action_keys))
        self._unknown(node, path, allowed)
        for key in sorted(cls.required_action_keys - set(node)):
            self.problems.add(node.line, f"{path}.{key}", f"is required by connector type {cls.type}")
        fields = {k: v for k, v in node.items() if k not in ACTION_COMMON and k in cls.action_keys}
        for key, value in action_defaults(cls).items():
            fields.setdefault(key, value)
        for key, message in check_action(cls, fields):
            self.problems.add(line_of(node, key), f"{path}.{key}", message)
        for_each = None
        source = node.get("for_each")
        if source is not None:
            try:
                for_each = templates.compile_expression(str(source))
            except jinja2.TemplateSyntaxError as exc:
                self.problems.add(
                    line_of(node, "for_each"),
                    f"{path}.for_each",
                    f"invalid expression: {templates.syntax_message(exc)}",
                )
        compiled = self._compile(fields, node, path)
        return Action(
            connector=name,
            index=index,
            fields=compiled,
            for_each=for_each,
            for_each_source=None if source is None else str(source),
            where=self._where(node.line),
            for_each_where=self._where(line_of(node, "for_each")) if source is not None else "",
        )

    def _compile(self, fields: dict[str, Any], node: YMap, path: str) -> Any:
        def where_of(sub: tuple[Any, ...]) -> str:
            container: Any = node
            for part in sub[:-1]:
                container = container[part]
            return self._where(line_of(container, sub[-1], node.line) if sub else node.line)

        def compile_each(value: Any, sub: tuple[Any, ...]) -> Any:
            try:
                return templates.compile_tree(value, lambda rest: where_of((*sub, *rest)))
            except jinja2.TemplateSyntaxError as exc:
                key_path = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in sub)
                line = int(where_of(sub).rsplit(":", 1)[1]) + max(0, (exc.lineno or 1) - 1)
                self.problems.add(line, key_path, f"template error: {templates.syntax_message(exc)}")
                return None

        return {key: compile_each(value, (key,)) for key, value in fields.items()}


Masker = Callable[[str], str]


def masker(secrets: frozenset[str]) -> Masker:
    """A function that replaces every secret value in a text with ``***``."""
    ordered = sorted(secrets, key=len, reverse=True)
    if not ordered:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def mask(text: str) -> str:
        # Every log line passes through here; plain substring checks rule out the usual no-secret case fast.
        if any(secret in text for secret in ordered):
            return pattern.sub("***", text)
        return text

    return mask
