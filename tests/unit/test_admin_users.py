"""``admin.users`` in process: each problem of the section is told at its file:line and key (a shop's typo
with the nearest name), the users' tokens are secrets of the config, a token names its login, and a user's
dashboard sessions end when its own token changes or it is removed, even once the old token is back, while
every other login's sessions live on."""

from __future__ import annotations

import dataclasses

import pytest

from router.admin.access import EVERYTHING, Access, changed_users, identify, user_access
from router.admin.auth import Sessions
from router.config import Config, ConfigError, parse_config
from router.config.model import AdminUser

ADMIN = "Xq3v9-TmB7rK2wLp8sNa"
JAN = "agency-jan-token-8d2f6b3e"
PIET = "agency-piet-token-5e1a9c7d"
SHOPS = """shops:
  cursusshop:
    plugandpay: {api_token: cursus-api-token, webhook_key: "cursus-webhook-key-5d8e1f0a"}
    rules: []
  yogastudio:
    plugandpay: {api_token: yoga-api-token, webhook_key: "yoga-webhook-key-8c1d4e7f0a"}
    rules: []
"""
T = 1_750_000_000.0


def config(users: str, *, shops: str = SHOPS, token: str = f'"{ADMIN}"', env: dict[str, str] | None = None) -> Config:
    """A two-shop file whose ``admin.users`` (from line 5 on) is ``users``."""
    text = f"version: 1\nadmin:\n  token: {token}\n  users:\n{users}{shops}"
    return parse_config(text, "router.yaml", env or {})


def problems(users: str, **kwargs: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(users, **kwargs)
    return [str(p) for p in info.value.problems]


def test_users_are_read_with_their_shops() -> None:
    loaded = config(
        f'    - {{name: agency-jan, token: "{JAN}", shops: [cursusshop]}}\n'
        f'    - {{name: piet@agency.nl, token: "${{PIET_ADMIN_TOKEN}}", shops: [yogastudio, cursusshop]}}\n',
        env={"PIET_ADMIN_TOKEN": PIET},
    )
    assert loaded.admin.users == (
        AdminUser("agency-jan", JAN, ("cursusshop",)),
        AdminUser("piet@agency.nl", PIET, ("yogastudio", "cursusshop")),
    )
    assert {JAN, PIET} <= loaded.secrets, "a token written in the file is as secret as one from ${VAR}"
    assert JAN not in repr(loaded.admin) and PIET not in repr(loaded.admin)


def test_each_problem_of_a_user_is_told_at_its_line_and_key() -> None:
    found = problems(
        f'    - {{name: agency-jan, token: "{JAN}", shops: [cursushop]}}\n'  # line 5
        "    - name: agency-jan\n"  # line 6
        '      token: "changeme"\n'
        "      shops: []\n"
        "      role: owner\n"  # line 9
        "    - just-a-name\n"  # line 10
        f'    - {{name: "two words", token: "{ADMIN}"}}\n'  # line 11
        f'    - {{name: piet, token: "{JAN}", shops: [yogastudio]}}\n'  # line 12
    )
    assert found == [
        "router.yaml:5: admin.users[0].shops[0]: unknown shop 'cursushop' (did you mean 'cursusshop'?)"
        " (known: cursusshop, yogastudio)",
        "router.yaml:6: admin.users[1].name: another user is called 'agency-jan' (at line 5): give each its own name",
        "router.yaml:7: admin.users[1].token: is a placeholder from the examples, which anybody can use;"
        " make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        "router.yaml:8: admin.users[1].shops: expected a non-empty list of shop names",
        "router.yaml:9: admin.users[1].role: unknown key",
        "router.yaml:10: admin.users[2]: expected a mapping such as"
        ' {name: agency-jan, token: "${JAN_ADMIN_TOKEN}", shops: [cursusshop]}',
        "router.yaml:11: admin.users[3].name: a user's name is 1-64 letters, digits, '.', '-', '_' and '@'",
        "router.yaml:11: admin.users[3].token: is admin.token's too: give each user a token of its own",
        "router.yaml:11: admin.users[3].shops: is required",
        "router.yaml:12: admin.users[4].token: is admin.users[0].token's too: give each user a token of its own",
    ]


def test_users_need_shops_in_the_file_and_the_admin_token_beside_them() -> None:
    assert problems(
        f'    - {{name: jan, token: "{JAN}", shops: [cursusshop]}}\n',
        shops="plugandpay: {allow_unsigned: true}\nrules: []\n",
    ) == ["router.yaml:4: admin.users: limits logins to some of the file's shops: the file has no shops:"]
    [missing] = problems(f'    - {{name: jan, token: "{JAN}", shops: [cursusshop]}}\n', token="null")
    assert missing == "router.yaml:4: admin.users: needs admin.token too: the token that sees and does everything"


def test_an_unset_token_variable_is_one_problem_and_a_weak_one_never_shows_its_value() -> None:
    [unset] = problems('    - {name: jan, token: "${JAN_ADMIN_TOKEN}", shops: [cursusshop]}\n')
    assert unset == "router.yaml:5: admin.users[0].token: environment variable JAN_ADMIN_TOKEN is not set"
    [weak] = problems(
        '    - {name: jan, token: "${JAN_ADMIN_TOKEN}", shops: [cursusshop]}\n', env={"JAN_ADMIN_TOKEN": "jan-12345"}
    )
    assert weak.startswith("router.yaml:5: admin.users[0].token: is 9 characters long") and "jan-12345" not in weak


def test_a_token_names_its_login_and_nothing_else_does() -> None:
    admin = config(f'    - {{name: jan, token: "{JAN}", shops: [cursusshop]}}\n').admin
    assert identify(admin, ADMIN) == EVERYTHING
    assert identify(admin, JAN) == Access("jan", ("cursusshop",))
    assert identify(admin, "") is None and identify(admin, JAN[:-1]) is None and identify(admin, JAN + "x") is None
    assert identify(admin, "\udcff") is None  # header bytes that are not UTF-8
    assert user_access(admin, "jan") == Access("jan", ("cursusshop",)) and user_access(admin, "gone") is None
    assert Access("jan", ("cursusshop",)).sees("cursusshop") and not Access("jan", ("cursusshop",)).sees("")
    assert EVERYTHING.sees("yogastudio") and not EVERYTHING.scoped


class Logins:
    """The tokens of the config in force, which a reload may change."""

    def __init__(self) -> None:
        self.admin: str | None = ADMIN
        self.users = {"jan": JAN, "piet": PIET}
        self.changed: dict[str, float] = {}


def sessions(logins: Logins) -> Sessions:
    return Sessions(
        lambda: logins.admin, users=lambda: logins.users, user_changed_at=lambda n: logins.changed.get(n, 0)
    )


def test_a_users_new_token_or_removal_ends_its_sessions_and_no_other() -> None:
    logins = Logins()
    made = sessions(logins)
    jan, piet, admin = made.issue(now=T, user="jan"), made.issue(now=T, user="piet"), made.issue(now=T)
    assert made.login_of(jan, now=T + 1) == ("jan",) and made.login_of(admin, now=T + 1) == (None,)
    assert made.csrf(jan) != made.csrf(piet)
    logins.users = {**logins.users, "jan": "agency-jan-token-rotated-1a5c"}
    assert not made.valid(jan, now=T + 2), "its cookie was signed under the old token"
    assert made.valid(piet, now=T + 2) and made.valid(admin, now=T + 2)
    fresh = made.issue(now=T + 3, user="jan")
    logins.users = {**logins.users, "jan": JAN}  # the old token back (a reverted config)
    assert not made.valid(jan, now=T + 4), "a session from before the change stays logged out"
    assert not made.valid(fresh, now=T + 4)
    del logins.users["piet"]
    assert not made.valid(piet, now=T + 5), "a user taken out of the config is logged out"
    assert made.valid(admin, now=T + 5)


def test_a_token_changed_and_back_between_two_requests_still_ends_the_users_sessions() -> None:
    logins = Logins()
    made = sessions(logins)
    jan, piet = made.issue(now=T, user="jan"), made.issue(now=T, user="piet")
    logins.changed["jan"] = T + 10  # reloads to another token and back, with no request in between
    assert not made.valid(jan, now=T + 11)
    assert made.valid(piet, now=T + 11)
    assert made.valid(made.issue(now=T + 12, user="jan"), now=T + 13)


def test_a_reload_names_the_users_whose_token_changed_or_who_were_removed() -> None:
    users = (
        f'    - {{name: jan, token: "{JAN}", shops: [cursusshop]}}\n'
        f'    - {{name: piet, token: "{PIET}", shops: [yogastudio]}}\n'
    )
    served = [config(users)]
    jan, piet = served[0].admin.users
    rotated = dataclasses.replace(jan, token="agency-jan-token-rotated-1a5c")
    served.append(dataclasses.replace(served[0], admin=dataclasses.replace(served[0].admin, users=(rotated, piet))))
    served.append(dataclasses.replace(served[0], admin=dataclasses.replace(served[0].admin, users=(jan,))))
    # What the daemon records at each reload (``AdminStatus.user_changed_at``), from the old and new config.
    assert changed_users(served[0].admin, served[1].admin) == ["jan"]
    assert changed_users(served[1].admin, served[2].admin) == ["jan", "piet"]
    assert changed_users(served[0].admin, served[0].admin) == []
