"""``${VAR}`` and ``${VAR:-default}`` in the config file, and the secret values the config holds.

Variables are read from the environment when the file loads, in every text value of the YAML tree; a
missing variable without a default is a problem at its file:line and key. A value counts as a secret when
its variable or key looks like one (``router.secrets.SECRET_NAME``) or its setting is declared secret, so
that logs, errors and the admin API can mask it. Every value read from the environment, secret-looking or
not, is also kept apart: a typo can put any of them where a problem message quotes it (``port:
"${SMTP_PASSWORD}"``), so the problems of the file are masked with all of them (``problem_mask``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.base import Field
from router.config.source import Problems, YList, YMap, key_path, line_of
from router.secrets import SECRET_NAME, Masker, masker
from router.text import suggest

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(
    node: YMap | YList,
    path: str,
    env: Mapping[str, str],
    problems: Problems,
    secrets: set[str],
    read: set[str],
    variables: dict[str, str] | None = None,
    *,
    offline: bool = False,
) -> None:
    """Replace every ``${VAR}`` in the text values under ``node``, in place.

    ``secrets`` gets the secret values, ``read`` every value taken from the environment (not the defaults,
    which are in the file for all to see), ``variables`` (when given) each variable's name and value. An
    unset variable is a problem at its key, with the nearest name the environment has; ``offline`` (a
    command that uses no secret) leaves ``${VAR}`` as it is written and only notes it.
    """
    # Assigning to existing keys or indexes does not resize, so iterating the live container is safe; the
    # key path is only built where it is needed (large rule files have hundreds of thousands of values).
    items: Any = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, YMap | YList):
            interpolate(value, key_path(path, key), env, problems, secrets, read, variables, offline=offline)
        elif isinstance(value, str) and "${" in value:
            sub = key_path(path, key)

            def replace(match: re.Match[str], key: Any = key, sub: str = sub) -> str:
                name, default = match.group(1), match.group(2)
                found = env.get(name)
                if found is None or (found == "" and default is not None):
                    if default is None:
                        if offline:
                            problems.missing.append((line_of(node, key), sub, name))
                        else:
                            # Variable names share prefixes and suffixes (SMTP_, _TOKEN): only a near miss counts.
                            hint = suggest(name, (k for k in env if k.isupper()), cutoff=0.8)
                            problems.add(line_of(node, key), sub, f"environment variable {name} is not set{hint}")
                        problems.unset.add(sub)
                        return match.group(0) if offline else ""
                    found = default
                else:
                    read.add(found)
                if found and (SECRET_NAME.search(name) or SECRET_NAME.search(str(key))):
                    secrets.add(found)
                if found and variables is not None:
                    variables[name] = found
                return found

            node[key] = _VAR.sub(replace, value)


def secret_values(fields: Mapping[str, Field], values: Mapping[str, Any]) -> Iterator[str]:
    """The secrets among typed settings: secret text, and secret-named keys of a secret mapping (or of each
    mapping in a secret list).

    The mapping case is a setting such as ``sign: {scheme: ..., secret: ...}``, where only some keys are
    secret; the list case is ``admin.users: [{name: ..., token: ..., shops: [...]}]``.
    """
    for name, spec in fields.items():
        value = values.get(name)
        if not spec.secret or not value:
            continue
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            yield from (v for k, v in value.items() if SECRET_NAME.search(k) and v)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    yield from (v for k, v in item.items() if SECRET_NAME.search(str(k)) and isinstance(v, str) and v)


def secret_variables(variables: Mapping[str, str], secrets: frozenset[str]) -> dict[str, str]:
    """The variables whose value is one of the config's secrets, by name (``Config.secret_vars``).

    A secret written into an action from a variable is stored masked, and restored from this mapping of the
    config in force when the delivery is sent (``router.render.secret_refs``).
    """
    return {name: value for name, value in variables.items() if value in secrets}


# Environment values that are words of the messages themselves: masking them would garble every message.
_PLAIN_WORDS = frozenset({"true", "false", "null", "none"})


def problem_mask(secrets: set[str], read: set[str]) -> Masker:
    """The masker for a file's problem messages: its secrets and every value it read from the environment.

    Messages quote values with ``repr`` (``got 'x'``), which escapes quotes and backslashes, so each value is
    also masked in that spelling. Values shorter than 4 characters are left alone (as in ``Config.secrets``):
    ``***`` in place of every ``587`` or ``on`` would hide more than it protects.
    """
    values = {v for v in secrets | read if len(v) >= 4 and v.lower() not in _PLAIN_WORDS}
    return masker(frozenset(values | {repr(v)[1:-1] for v in values}))
