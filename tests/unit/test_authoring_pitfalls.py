"""Mistakes rule authors make, caught when the config loads, each with a message that says what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cli import main
from router.config import ConfigError, load_config, parse_config

HEAD = """version: 1
plugandpay: {api_url: "http://127.0.0.1:1", allow_unsigned: true}
connectors:
  mail: {type: email, host: smtp.example.nl, from: "Shop <shop@example.nl>"}
  hook: {type: http, base_url: "http://127.0.0.1:1"}
rules:
"""
MAIL = """  - name: welcome
    trigger: order_paid
    actions:
      - connector: mail
        to: [{email: "{{ order.billing.contact.email }}"}]
"""


def problems(text: str, file: str = "config.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file, {})
    return [str(p) for p in caught.value.problems]


def test_an_unquoted_template_names_the_line_and_shows_it_quoted():
    text = HEAD + MAIL + "        subject: {{ order.invoice_number }}\n        text: hoi\n"
    assert problems(text) == [
        "config.yaml:12: a value starting with {{ must be in quotes (YAML reads an unquoted {{ ... }} as a mapping);"
        ' write: subject: "{{ order.invoice_number }}"'
    ]


def test_an_unquoted_template_followed_by_text_gets_the_whole_value_quoted():
    text = HEAD + MAIL + "        subject: {{ order.invoice_number }} is betaald\n        text: hoi\n"
    [message] = problems(text)
    assert message.startswith("config.yaml:12: a value starting with {{ must be in quotes")
    assert message.endswith('write: subject: "{{ order.invoice_number }} is betaald"')


def test_a_tab_is_refused_with_the_line():
    text = HEAD + MAIL + "\tsubject: hoi\n"
    assert problems(text) == ["config.yaml:12: tabs are not allowed in YAML, use spaces"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025", 'rules[0].actions[0].subject: expected text, got a number; put it in quotes: write: subject: "2025"'),
        ("yes", 'rules[0].actions[0].subject: expected text, got true/false; put it in quotes: write: subject: "true"'),
        ("[a, b]", "rules[0].actions[0].subject: expected text, got a list; put it in quotes"),
    ],
)
def test_a_number_or_list_where_text_is_required(value, expected):
    text = HEAD + MAIL + f"        subject: {value}\n        text: hoi\n"
    assert problems(text) == [f"config.yaml:12: {expected}"]


def test_products_given_as_names_say_ids_are_numbers_and_how_to_find_one():
    text = HEAD + MAIL.replace("    trigger: order_paid\n", '    trigger: order_paid\n    products: ["Cursus Basis"]\n')
    [message] = problems(text + "        subject: hoi\n        text: hoi\n")
    assert message.startswith("config.yaml:9: rules[0].products: product ids are numbers, got 'Cursus Basis':")
    assert "plugpay-router simulate -c CONFIG order_paid ORDER_ID` prints the product ids" in message


def test_a_missing_file_says_cannot_open_without_a_line(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["check", "-c", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cannot read the config: cannot open {missing}: No such file or directory\n")
    assert ":0:" not in err


@pytest.mark.parametrize("text", ["", "# nothing here yet\n"])
def test_an_empty_file_is_an_error_not_ok_with_zero_rules(tmp_path, capsys, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert main(["check", "-c", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "ok" not in out
    assert f"{path}:1: the config file is empty: it needs plugandpay, connectors and rules" in err


def test_warnings_print_together_with_errors(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(
        HEAD
        + """  - name: ended
    trigger: subscription_ended
    checkouts: [12]
    actions: [{connector: hook, json: {id: "{{ subscription.id }}"}}]
  - name: typo
    trigger: order_payed
    actions: [{connector: mial}]
"""
    )
    assert main(["check", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"warning: {path}:9: rules[0].checkouts: this rule can never match: a subscription has no checkouts"
        " (orders do); remove checkouts or use order_paid"
    ) in err
    assert f"warning: {path}:12: rules[1].trigger: 'order_payed' is not a known Plug&Pay trigger" in err
    assert f"{path}:13: rules[1].actions[0].connector: unknown connector 'mial' (did you mean 'mail'?)" in err


def test_native_anywhere_but_a_whole_value_is_refused():
    text = HEAD + MAIL + '        subject: "Order {{ order.id | native }}"\n        text: hoi\n'
    [message] = problems(text)
    assert message == (
        "config.yaml:12: rules[0].actions[0].subject: template error: native gives a typed value only as the last"
        ' filter of a value that is exactly one "{{ ... | native }}"'
    )


# ---------------------------------------------------------------- template files


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def mail_with(key_line: str) -> str:
    return HEAD + MAIL + "        subject: hoi\n" + key_line


def test_a_syntax_error_in_a_template_file_names_the_file_and_its_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "templates/welcome.html", "<p>Hoi</p>\n<p>{{ order.id </p>\n")
    config = write(tmp_path, "config.yaml", mail_with("        html_file: templates/welcome.html\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith("templates/welcome.html:2: rules[0].actions[0].html_file: template error:")


def test_an_include_is_checked_when_the_config_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "templates/welcome.html", '{% include "templates/footer.html" %}\n')
    write(tmp_path, "templates/footer.html", "\n\n{% if %}\n")
    config = write(tmp_path, "config.yaml", mail_with("        html_file: templates/welcome.html\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value).startswith("templates/footer.html:3: rules[0].actions[0].html_file: template error:")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../secret.txt", "'../secret.txt' is outside the config's folder"),
        ("/etc/passwd", "'/etc/passwd' is outside the config's folder"),
        ("templates/nope.txt", "cannot open templates/nope.txt: no such file"),
    ],
)
def test_a_template_file_outside_the_folder_or_missing_is_refused(tmp_path, monkeypatch, name, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    write(tmp_path, "secret.txt", "top secret")
    config = write(tmp_path / "conf", "config.yaml", mail_with(f"        text_file: {name}\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith(f"{config}:13: rules[0].actions[0].text_file: ")
    assert expected.replace("templates/", "conf/templates/") in problem


def test_an_include_may_not_leave_the_folder_nor_be_computed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "a.txt", '{% include "../b.txt" %}')
    write(tmp_path, "c.txt", "{% include order.name %}")
    for name, expected in (("a.txt", "'../b.txt' is outside"), ("c.txt", "need a fixed file name in quotes")):
        config = write(tmp_path, "config.yaml", mail_with(f"        text_file: {name}\n"))
        with pytest.raises(ConfigError) as caught:
            load_config(config)
        assert expected in str(caught.value)


def test_text_and_text_file_together_is_an_error(tmp_path):
    write(tmp_path, "t.txt", "hoi")
    config = write(tmp_path, "config.yaml", mail_with("        text: hoi\n        text_file: t.txt\n"))
    with pytest.raises(ConfigError, match="text_file: use text or text_file, not both"):
        load_config(config)
