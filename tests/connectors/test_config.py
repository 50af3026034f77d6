"""``check`` validates connector settings and actions, naming file:line and the key."""

from __future__ import annotations

from tests.conftest import run_cli

BROKEN = """version: 1
connectors:
  mail:
    type: email
    port: 587
    from: "Shop <shop@example.nl>"
  crm: {type: activecampaign, base_url: "https://acme.api-us1.com", api_token: t, rate_limit: "5 per second"}
  books:
    type: invoice
    flavor: moneybird
    breaker: {failure_ratio: 1.5, open_for: 10s}
  gen: {type: invoice, flavor: generic, url: "https://books.example.nl/in"}
rules:
  - name: welcome
    trigger: order_paid
    actions:
      - connector: crm
        op: sync_contacts
        email: "{{ order.billing.contact.email }}"
      - connector: crm
        op: subscribe
        email: "{{ order.billing.contact.email }}"
      - connector: mail
        to: "{{ order.billing.contact.email }}"
        subject: Bedankt
      - connector: gen
        order: "{{ data }}"
"""


def test_check_reports_connector_problems_with_file_and_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BROKEN)
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 1
    lines = [line.replace(f"{path}:", "config.yaml:") for line in (result.stdout + result.stderr).splitlines()]
    expected = [
        "config.yaml:4: connectors.mail.host: is required",
        "config.yaml:7: connectors.crm.rate_limit: expected a rate such as '5/s' or '150/5m', got '5 per second'",
        "config.yaml:11: connectors.books.breaker.failure_ratio: must be above 0 and at most 1, got 1.5",
        "config.yaml:18: rules[0].actions[0].op: unknown op 'sync_contacts' (did you mean 'sync_contact'?)"
        " (known: sync_contact, add_tag, remove_tag, subscribe, unsubscribe)",
        "config.yaml:21: rules[0].actions[1].op: subscribe needs 'lists'",
        "config.yaml:23: rules[0].actions[2].text: an email needs a text or an html body (or both)",
        'config.yaml:27: rules[0].actions[3].order: must render to JSON: end the template with "| tojson"',
    ]
    for line in expected:
        assert line in lines, f"{line!r} not in:\n" + "\n".join(lines)


def test_invoice_flavors_need_their_settings(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "version: 1\nconnectors:\n"
        "  books: {type: invoice, flavor: moneybird, token: t}\n"
        "  gen: {type: invoice, flavor: generic}\n"
    )
    result = run_cli("check", "-c", str(path))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert ":3: connectors.books.base_url: is required by flavor moneybird" in output
    assert ":4: connectors.gen.url: is required by flavor generic" in output
