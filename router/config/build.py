"""The YAML tree of a config file turned into the model: every section and connector checked and typed.

The file is the product's user interface, so errors matter more than anything else here: every problem
names the file, line and key path (``config.yaml:31: rules[2].actions[0].connector: unknown connector
'crn' (known: crm, mail)``), suggests the nearest valid name for typos, and all problems are reported
at once. Unknown keys are errors. The ``*_FIELDS`` specs give each key's type only: a key the file leaves
out is not passed on, so the model's dataclasses fill in their own defaults.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import Field
from connectors.registry import CONNECTOR_TYPES, plugin, plugins
from router.config.admin_section import admin_config
from router.config.alerts_section import alerts_config
from router.config.coerce import coerce, parse_listen
from router.config.env import interpolate, problem_mask, secret_values, secret_variables
from router.config.model import (
    AdminConfig,
    Config,
    ConnectorConfig,
    DeliveryConfig,
    PlugAndPayConfig,
    QuarantineConfig,
    RetentionConfig,
    ServerConfig,
    SignatureConfig,
    StoreConfig,
)
from router.config.reconcile_section import reconcile_config as _reconcile
from router.config.rules_section import RuleCompiler
from router.config.secret_path import check_v1_path
from router.config.sections import (
    ADMIN_FIELDS,
    CONNECTOR_COMMON,
    DELIVERY_FIELDS,
    PLUGANDPAY_FIELDS,
    QUARANTINE_FIELDS,
    RECONCILE_FIELDS,
    RETENTION_FIELDS,
    SECTIONS,
    SERVER_FIELDS,
    SIGNATURE_FIELDS,
    STORE_FIELDS,
)
from router.config.shops_section import ShopSource, in_shop, share_secrets, shop_sources
from router.config.source import ConfigError, Problem, Problems, YMap, key_path, line_of
from router.config.source import load as load_yaml
from router.config.store_url import store_url_problem
from router.config.tracing_section import tracing_config
from router.config.webhook import check_webhook_key
from router.events import canonical_trigger
from router.render.rulebook import RuleSet
from router.render.template_files import TemplateFolder
from router.text import suggest
from toolkit.protection import BREAKER_FIELDS, check_breaker

RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")


def build(text: str, file: str, env: Mapping[str, str], *, offline: bool = False) -> Config:
    """The config in ``text``; raises ConfigError listing every problem.

    ``offline``: for a command that sends nothing and calls no server (rule tests, ``simulate --data``,
    ``check --offline``): an unset ``${VAR}`` stays as written and is only noted (``Config.unset``), and the
    checks of secrets' values (the webhook key, the admin token) are left to the commands that use them.
    """
    problems = Problems(file)
    root = load_yaml(text, file)
    if root is None:
        message = "the config file is empty: it needs plugandpay, connectors and rules (see config.example.yaml)"
        raise ConfigError([Problem(file, 1, "", message)])
    if not isinstance(root, YMap):
        raise ConfigError([Problem(file, 1, "", "the config must be a mapping of sections")])
    secrets: set[str] = set()
    read: set[str] = set()
    variables: dict[str, str] = {}
    interpolate(root, "", env, problems, secrets, read, variables, offline=offline)
    sources = shop_sources(problems, root, env, secrets, read, variables, offline=offline)
    try:
        version = hashlib.sha256(text.encode()).hexdigest()[:12]
        builder = _Builder(problems, version, secrets, offline, env, shops=bool(sources))
        config = builder.build(root)
    except ConfigError as exc:
        # Masked here, before anything prints it: check, serve and a reload all show this text.
        raise exc.masked(problem_mask(secrets, read)) from None
    if sources:
        config = builder.with_shops(config, sources, problem_mask(secrets, read))
    config = share_secrets(dataclasses.replace(config, secret_vars=secret_variables(variables, config.secrets)))
    if config.warnings:
        mask = problem_mask(secrets, read)
        config = dataclasses.replace(config, warnings=tuple(w.masked(mask) for w in config.warnings))
    return config


def _line_at(node: Any, dotted: str) -> int:
    """The line of a nested key such as ``sign.secret`` inside ``node``, or of its nearest parent."""
    line = getattr(node, "line", 1)
    for part in dotted.split("."):
        if not isinstance(node, YMap) or part not in node:
            break
        line, node = line_of(node, part), node[part]
    return line


@dataclass
class _Builder:
    problems: Problems
    version: str
    secrets: set[str]
    offline: bool = False
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)  # OTEL_* turn traces on too
    shops: bool = False  # the file has shops: the webhook key and the rules are each shop's

    def build(self, root: YMap) -> Config:
        self.problems.unknown_keys(root, "", SECTIONS)
        version = root.get("version", 1)
        if version != 1:
            self.problems.add(line_of(root, "version"), "version", f"unsupported config version {version!r} (use 1)")
        server = self._server(root)
        admin = self._admin(root, server)
        plugandpay = self._plugandpay(root)
        store = StoreConfig(**self._fields(root, "store", STORE_FIELDS))
        if (reason := store_url_problem(store.url)) is not None:
            self._problem_at(root, "store.url", reason)
        delivery = DeliveryConfig(**self._fields(root, "delivery", DELIVERY_FIELDS))
        retention = RetentionConfig(**self._fields(root, "retention", RETENTION_FIELDS))
        self._check_limits(root, plugandpay, delivery, retention)
        quarantine = self._quarantine(root)
        connectors = self._connectors(root)
        rules = RuleCompiler(self.problems, connectors, plugandpay.trigger_aliases).rules(root)
        reconcile = _reconcile(self.problems, root, self._fields(root, "reconcile", RECONCILE_FIELDS), rules)
        alerts = alerts_config(self.problems, root, connectors)
        tracing = tracing_config(self.problems, root, self.env, offline=self.offline)
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
            unset=tuple(
                Problem(self.problems.file, line, path, f"environment variable {name} is not set")
                for line, path, name in self.problems.missing
            ),
            quarantine=quarantine,
            reconcile=reconcile,
            alerts=alerts,
            tracing=tracing,
        )

    # -- shops

    def with_shops(self, config: Config, sources: list[ShopSource], mask: Callable[[str], str]) -> Config:
        """``config`` with each shop built from its source (``router.config.shops_section``) over it; a shop
        with problems is left out and listed in ``broken_shops`` with them, masked."""
        shops: dict[str, Config] = {}
        broken: dict[str, tuple[Problem, ...]] = {}
        for source in sources:
            built, problems = self._shop(config, source)
            if built is None:
                broken[source.name] = tuple(p.masked(mask) for p in problems)
            else:
                shops[source.name] = built
        secrets = frozenset(s for s in self.secrets if len(s) >= 4)  # with the shops' own
        return dataclasses.replace(config, shops=shops, broken_shops=broken, secrets=secrets)

    def _shop(self, base: Config, source: ShopSource) -> tuple[Config | None, list[Problem]]:
        problems = Problems(self.problems.file)
        shop = _Builder(problems, self.version, self.secrets, self.offline, self.env)
        tree = source.tree
        plugandpay = shop._plugandpay(tree)
        connectors = {**base.connectors, **shop._connectors(tree)}  # its own shadow the shared
        in_file = problems if source.rules_file is None else Problems(source.rules_file)
        folder = TemplateFolder.of_config(self.problems.file)  # template files beside the config, as ever
        rules = RuleCompiler(in_file, connectors, plugandpay.trigger_aliases, folder).rules(tree)
        reconcile = _reconcile(problems, tree, shop._fields(tree, "reconcile", RECONCILE_FIELDS), rules)
        found = [*source.problems, *(in_shop(p, source.name) for p in problems.items)]
        if in_file is not problems:
            found += in_file.items
        if found:
            return None, sorted(found, key=lambda p: (p.file, p.line))
        version = hashlib.sha256(f"{self.version}|{source.rules_text}".encode()).hexdigest()[:12]
        built = dataclasses.replace(
            base,
            shop=source.name,
            version=version,
            plugandpay=plugandpay,
            connectors=connectors,
            rules=RuleSet(rules),
            reconcile=reconcile,
            warnings=tuple(in_shop(p, source.name) for p in problems.warnings),
        )
        return built, []

    # -- helpers

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
    ) -> dict[str, Any]:
        """Validate ``parent[key]`` against Field specs; the typed values given, and the specs' defaults."""
        path = path or key
        node = self._mapping(parent, key, path)
        out: dict[str, Any] = {}
        if node is not None:
            self.problems.unknown_keys(node, path, fields)
        for name, spec in fields.items():
            if node is not None and name in node and node[name] is not None:
                try:
                    out[name] = coerce(spec, node[name])
                except ValueError as exc:
                    self.problems.add(line_of(node, name), key_path(path, name), str(exc))
            elif spec.required:
                where = node if node is not None else parent
                self.problems.add(line_of(where, key if node is None else name), key_path(path, name), "is required")
            elif spec.default is not None:
                out[name] = spec.default
        self.secrets.update(secret_values(fields, out))
        return out

    def _problem_at(self, root: YMap, dotted: str, message: str) -> None:
        section, key = dotted.split(".")
        self.problems.add(line_of(root.get(section), key), dotted, message)

    # -- sections

    def _server(self, root: YMap) -> ServerConfig:
        values = self._fields(root, "server", SERVER_FIELDS)
        if "listen" in values:
            try:
                values["host"], values["port"] = parse_listen(values["listen"])
            except ValueError as exc:
                self._problem_at(root, "server.listen", str(exc))
            del values["listen"]
        server = ServerConfig(**values)
        if not server.path.startswith("/"):
            self._problem_at(root, "server.path", "must start with '/'")
        if server.path in RESERVED_PATHS or server.path.startswith("/api"):
            self._problem_at(root, "server.path", f"{server.path} is reserved")
        if server.v1_path is not None:
            problem = check_v1_path(server.v1_path, server.path)
            if problem:
                self._problem_at(root, "server.v1_path", problem)
        for name in ("max_body_bytes", "header_timeout", "body_timeout", "keepalive_timeout", "max_connections"):
            if getattr(server, name) <= 0:
                self._problem_at(root, f"server.{name}", "must be positive")
        if server.max_connections_per_address < 0:
            self._problem_at(root, "server.max_connections_per_address", "must be 0 (no cap) or positive")
        return server

    def _admin(self, root: YMap, server: ServerConfig) -> AdminConfig:
        return admin_config(self.problems, root, self._fields(root, "admin", ADMIN_FIELDS), server, self.offline)

    def _plugandpay(self, root: YMap) -> PlugAndPayConfig:
        values = self._fields(root, "plugandpay", PLUGANDPAY_FIELDS)
        values.pop("signature", None)
        signature = SignatureConfig(
            **self._fields(root.get("plugandpay") or {}, "signature", SIGNATURE_FIELDS, "plugandpay.signature")
        )
        values["trigger_aliases"] = self._aliases(root, values.get("trigger_aliases", {}))
        if "confirm_state" in values:
            values["confirm_state"] = self._confirm_state(root, values["confirm_state"])
        plugandpay = PlugAndPayConfig(signature=signature, **values)
        if not plugandpay.api_url.startswith(("http://", "https://")):
            self._problem_at(root, "plugandpay.api_url", "must be an http:// or https:// URL")
        if not self.offline and not self.shops:
            self._check_webhook_key(root, plugandpay)
        return plugandpay

    def _check_webhook_key(self, root: YMap, plugandpay: PlugAndPayConfig) -> None:
        finding = check_webhook_key(plugandpay)
        path = f"plugandpay.{finding.key}" if finding else ""
        if finding is None or any(p.path == path for p in self.problems.items):
            return  # fine, or already reported (an unset variable, a value that is not text)
        section = root.get("plugandpay")
        given = isinstance(section, YMap) and finding.key in section
        line = line_of(section, finding.key) if given else line_of(root, "plugandpay")
        if finding.error:
            self.problems.add(line, path, finding.message)
        else:
            self.problems.warn(line, path, finding.message)

    def _aliases(self, root: YMap, aliases: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for wire, trigger in aliases.items():
            if not wire.strip() or not trigger.strip():
                self._problem_at(root, "plugandpay.trigger_aliases", "a wire name and a trigger may not be empty")
                continue
            out[wire.strip().lower()] = canonical_trigger(trigger)
        return out

    def _confirm_state(self, root: YMap, value: Any) -> bool | dict[str, bool]:
        if isinstance(value, bool):
            return value
        if isinstance(value, Mapping) and all(isinstance(v, bool) for v in value.values()):
            return {canonical_trigger(str(k)): v for k, v in value.items()}
        self._problem_at(
            root, "plugandpay.confirm_state", "expected true / false, or a mapping of trigger names to true / false"
        )
        return True

    def _quarantine(self, root: YMap) -> QuarantineConfig:
        quarantine = QuarantineConfig(**self._fields(root, "quarantine", QUARANTINE_FIELDS))
        for name in ("max_entries", "max_bytes", "max_age"):
            if getattr(quarantine, name) <= 0:
                self._problem_at(root, f"quarantine.{name}", "must be positive")
        return quarantine

    def _check_limits(
        self, root: YMap, plugandpay: PlugAndPayConfig, delivery: DeliveryConfig, retention: RetentionConfig
    ) -> None:
        if retention.events < retention.dedupe_window:
            self._problem_at(
                root,
                "retention.events",
                "must be at least retention.dedupe_window (a duplicate must find the event it repeats)",
            )
        for name, value in (
            ("delivery.concurrency", delivery.concurrency),
            ("plugandpay.concurrency", plugandpay.concurrency),
        ):
            if value < 1:
                self._problem_at(root, name, "must be at least 1")
        for name, lease, timeout in (
            ("delivery.lease", delivery.lease, delivery.timeout),
            ("plugandpay.lease", plugandpay.lease, plugandpay.timeout),
        ):
            if lease is not None and lease <= timeout:
                self._problem_at(root, name, f"must be longer than {name.split('.')[0]}.timeout ({timeout:g}s)")

    def _connectors(self, root: YMap) -> dict[str, ConnectorConfig]:
        plugins()  # the entry-point group is read when the first config loads (the daemon reads it again on reload)
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
                broken = plugin(str(kind))
                message = (
                    str(broken)
                    if broken is not None and broken.error is not None
                    else f"unknown connector type {kind!r}{suggest(str(kind), CONNECTOR_TYPES)}"
                    f" (known: {', '.join(sorted(CONNECTOR_TYPES))})"
                )
                self.problems.add(line_of(body, "type"), f"{path}.type", message)
                continue
            values = self._fields(node, name, {**CONNECTOR_COMMON, **cls.settings_fields}, path)
            common = {k: values.pop(k, None) for k in CONNECTOR_COMMON}
            if common["breaker"] is not None:
                common["breaker"] = self._fields(body, "breaker", BREAKER_FIELDS, f"{path}.breaker")
                for key, message in check_breaker(common["breaker"]):
                    self.problems.add(line_of(body["breaker"], key), f"{path}.breaker.{key}", message)
            if not any(p.path.startswith(f"{path}.") for p in self.problems.items):
                for key, message in cls.check_settings(values):
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
