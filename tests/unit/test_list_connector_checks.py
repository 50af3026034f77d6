"""The mailing-list connector types (mailchimp, mailerlite, laposta) check their settings and actions the way
``check`` and ``check --render`` report problems (file:line, key, what to change), and say what they would do."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from connectors.laposta import form
from connectors.mailchimp import api_base, subscriber_hash
from router import cli
from router.config import parse_config
from router.demo.report import describe_request
from router.tools.simulate import destination

BROKEN = """\
version: 1
plugandpay: {api_url: "http://127.0.0.1:1", allow_unsigned: true}
connectors:
  chimp: {type: mailchimp, api_key: "abc", list_id: "a1b2-c3", max_connections: 20}
  lite: {type: mailerlite, api_token: t, api_version: "next week"}
  posta: {type: laposta, base_url: "api.laposta.nl/v2"}
rules:
  - name: lists
    trigger: order_paid
    actions:
      - connector: chimp
        op: upsert_members
        email: "{{ order.billing.contact.email }}"
        status_if_new: maybe
        merge_fields: "FNAME"
      - connector: lite
        op: remove_from_groups
        email: "{{ order.billing.contact.email }}"
      - connector: lite
        email: "{{ order.billing.contact.email }}"
        groups: [Klanten, 111]
      - connector: posta
        email: "{{ order.billing.contact.email }}"
        custom_fields: {"a[b]": x}
"""

RENDERS_BADLY = """\
version: 1
plugandpay: {api_url: "http://127.0.0.1:1", allow_unsigned: true}
connectors:
  chimp: {type: mailchimp, api_key: "abc-us6"}
  lite: {type: mailerlite, api_token: t}
  posta: {type: laposta, api_key: k}
rules:
  - name: lists
    trigger: order_paid
    actions:
      - {connector: chimp, email: "{{ order.billing.contact.email }}"}
      - connector: lite
        email: "{{ order.billing.contact.firstname }}"
        groups: ["{{ order.mode }}"]
      - {connector: posta, email: "{{ order.billing.contact.email }}"}
"""


def run_check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    code = cli.main(["check", "-c", str(path), *args])
    out, err = capsys.readouterr()
    return code, [line.replace(f"{path}:", "config.yaml:") for line in (out + err).splitlines()]


def test_check_names_each_settings_and_action_problem_at_its_line(tmp_path, capsys):
    code, lines = run_check(tmp_path, BROKEN, capsys)
    assert code == 1
    expected = [
        "config.yaml:4: connectors.chimp.api_key: must end in its data center (…-us6), or set base_url",
        "config.yaml:4: connectors.chimp.list_id: expected an audience id such as 'a1b2c3d4e5', got 'a1b2-c3'",
        "config.yaml:4: connectors.chimp.max_connections: must be 1 to 10 (Mailchimp's limit per user)",
        "config.yaml:5: connectors.lite.api_version: expected a date such as 2038-01-19 (sent as X-Version),"
        " got 'next week'",
        "config.yaml:6: connectors.posta.api_key: is required",
        "config.yaml:12: rules[0].actions[0].op: unknown op 'upsert_members' (did you mean 'upsert_member'?)"
        " (known: upsert_member, remove_tags)",
        "config.yaml:14: rules[0].actions[0].status_if_new: expected one of subscribed, pending, unsubscribed,"
        " transactional, got 'maybe'",
        "config.yaml:15: rules[0].actions[0].merge_fields: expected a mapping of merge tag (FNAME, LNAME, ...)"
        " to value",
        "config.yaml:17: rules[0].actions[1].op: remove_from_groups needs 'remove_groups'",
        "config.yaml:21: rules[0].actions[2].groups: expected MailerLite group ids (numbers), got 'Klanten'",
        "config.yaml:24: rules[0].actions[3].custom_fields: 'a[b]' is not a Laposta field name"
        " (letters, digits, _ or -)",
    ]
    for line in expected:
        assert line in lines, f"{line!r} not in:\n" + "\n".join(lines)


def test_check_render_runs_each_list_connector_s_own_checks_on_the_fixtures(tmp_path, capsys):
    code, lines = run_check(tmp_path, RENDERS_BADLY, capsys, "--render")
    assert code == 1
    expected = [
        "config.yaml:11: rule 'lists': chimp: list_id: '' is not an audience id (set the connector's or the"
        " action's list_id) (on order 1042, order 1043)",
        "config.yaml:12: rule 'lists': lite: email rendered to 'Bilal', not one plain address (on order 1042)",
        "config.yaml:12: rule 'lists': lite: groups: expected MailerLite group ids (numbers), got 'live'"
        " (on order 1042, order 1043)",
        "config.yaml:15: rule 'lists': posta: no list_id: set the connector's or the action's list_id"
        " (on order 1042, order 1043)",
    ]
    for line in expected:
        assert line in lines, f"{line!r} not in:\n" + "\n".join(lines)


def test_an_offline_check_takes_an_unset_key_variable_as_written():
    text = (
        'version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n  chimp: {type: mailchimp, api_key: "${MC_KEY}"}'
    )
    config = parse_config(text, "c.yaml", {}, offline=True)
    assert config.connectors["chimp"].settings["api_key"] == "${MC_KEY}"


def test_each_list_connector_says_what_it_would_do():
    found = parse_config(
        "version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n"
        + textwrap.indent(
            textwrap.dedent("""\
                chimp: {type: mailchimp, api_key: abc-us6, list_id: a1b2c3d4e5}
                lite: {type: mailerlite, api_token: t}
                posta: {type: laposta, api_key: k, list_id: BaImMu3JZA}
                """),
            "  ",
        ),
        "c.yaml",
        {},
    ).connectors
    chimp = {"email": "a@b.nl", "tags": ["klant"], "remove_tags": "lead"}
    assert (
        describe_request(found["chimp"], chimp) == "Mailchimp member a@b.nl of audience a1b2c3d4e5; tags klant;"
        " tags lead removed"
    )
    assert destination(found["chimp"], chimp) == {"op": "upsert_member", "list_id": "a1b2c3d4e5"}
    lite = {"op": "remove_from_groups", "email": "a@b.nl", "remove_groups": [111]}
    assert describe_request(found["lite"], lite) == "MailerLite subscriber a@b.nl; out of groups 111"
    assert describe_request(found["posta"], {"email": "a@b.nl"}) == "Laposta member a@b.nl of list BaImMu3JZA"


def test_mailchimp_addresses_a_member_by_the_md5_of_the_lower_cased_address_in_the_key_s_data_center():
    assert subscriber_hash(" Bilal@Example.NL ") == hashlib.md5(b"bilal@example.nl").hexdigest()
    assert api_base({"api_key": "0123abcd-us21"}) == "https://us21.api.mailchimp.com/3.0"
    assert api_base({"api_key": "0123abcd-us21", "base_url": "http://127.0.0.1:9/3.0/"}) == "http://127.0.0.1:9/3.0"


def test_laposta_always_asks_for_an_upsert_that_never_reactivates_and_nests_custom_fields():
    pairs = form(
        {"email": "a@b.nl", "custom_fields": {"voornaam": "A & B=C", "leeg": "", "keuzes": ["x", "y"]}},
        {"list_id": "L1", "ip": "198.51.100.7"},
    )
    assert pairs == [
        ("list_id", "L1"),
        ("ip", "198.51.100.7"),
        ("email", "a@b.nl"),
        ("custom_fields[voornaam]", "A & B=C"),
        ("custom_fields[keuzes][]", "x"),
        ("custom_fields[keuzes][]", "y"),
        ("options[upsert]", "true"),
        ("options[suppress_reactivation]", "true"),
    ]
