"""The rule author's command line: ``check --render``, ``simulate``'s exit code, ``standins``, ``demo --port-base``,
``--version`` and usage errors, each run as a user runs it (a subprocess)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from router import __version__
from router.demo.targets import PORT_ORDER
from tests.conftest import run_cli
from tests.support import free_port_base

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "plugpay-router.env.example"
FIXTURES = ROOT / "router" / "demo" / "fixtures"


def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#"))
    return {**{k.strip(): v.strip() for k, v in pairs}, "PLUGANDPAY_WEBHOOK_KEY": "a-real-key-7d1c"}


# ---------------------------------------------------------------- check --render


def test_check_render_passes_on_the_example_config():
    result = run_cli("check", "-c", str(EXAMPLE), "--render", env=example_env())
    assert result.returncode == 0, result.stderr
    assert "rendered 12 rules on order 1042, order 1043, subscription 901, seller 14, seller 15" in result.stdout
    assert "(the sandbox fixtures)" in result.stdout and "0 problems" in result.stdout


def test_check_render_names_the_missing_key_its_line_and_the_key_that_exists(tmp_path):
    text = EXAMPLE.read_text().replace("contact.firstname }},", "contact.first_name }},", 1)
    config = tmp_path / "config.yaml"
    config.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "first_name }}," in t)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "welcome.html").write_text((ROOT / "router/examples/templates/welcome.html").read_text())
    result = run_cli("check", "-c", str(config), "--render", env=example_env())
    assert result.returncode == 1
    assert (
        f"{config}:{line}: rule 'welcome-mail': undefined value: no key 'first_name' in order.billing.contact"
        " (keys: company, email, firstname, invoice_email, lastname, tax_exempt, telephone, vat_id_number, website);"
        " did you mean 'firstname'? (on order 1042, order 1043)"
    ) in result.stderr
    assert "1 problem" in result.stdout


def test_check_render_on_recorded_objects_runs_each_connectors_own_checks(tmp_path):
    order = json.loads((FIXTURES / "orders.json").read_text())["1042"]
    order["items"][0]["tax"]["rate"]["percentage"] = "9.0"
    order["billing"]["contact"]["email"] = "bilal at example"
    (tmp_path / "data" / "orders").mkdir(parents=True)
    (tmp_path / "data" / "orders" / "2001.json").write_text(json.dumps({"data": {**order, "id": 2001}}))
    config = tmp_path / "config.yaml"
    config.write_text("""version: 1
plugandpay: {api_url: "http://127.0.0.1:1", allow_unsigned: true}
connectors:
  mail: {type: email, host: smtp.example.nl, from: "Shop <shop@example.nl>"}
  crm: {type: activecampaign, base_url: "https://x.api-us1.com", api_token: t}
  books: {type: moneybird, base_url: "https://moneybird.com/api/v2/1", token: t, tax_rates: {"21": "r21"}}
rules:
  - name: welcome
    trigger: order_paid
    actions:
      - {connector: mail, to: "{{ order.billing.contact.email }}", subject: hoi, text: hoi}
      - connector: crm
        op: sync_contact
        email: "{{ order.billing.contact.email }}"
        lists: ["{{ order.mode }}"]
  - name: books
    trigger: invoice_created
    actions: [{connector: books}]
""")
    result = run_cli("check", "-c", str(config), "--render", "--data", str(tmp_path / "data"))
    assert result.returncode == 1, result.stderr
    err = result.stderr
    assert "to: a plain string must be exactly one address" in err
    assert "rule 'welcome': crm: email: rendered 'bilal at example', not an address" in err
    assert "crm: lists: expected list ids (numbers), got 'live'" in err
    assert 'no Moneybird tax rate for 9% in tax_rates (known: 21); add "9": <the id of' in err
    assert "(on order 2001)" in err
    assert "rendered 2 rules on order 2001 (--data" in result.stdout


def test_check_render_says_what_a_data_folder_should_hold(tmp_path):
    result = run_cli("check", "-c", str(EXAMPLE), "--render", "--data", str(tmp_path), env=example_env())
    assert result.returncode == 1
    assert "no objects found (expected orders.json, subscriptions.json, sellers.json" in result.stderr


# ---------------------------------------------------------------- simulate


def test_simulate_prints_the_product_ids_and_fails_when_an_action_does_not_render(tmp_path):
    data = tmp_path / "order.json"
    data.write_text(json.dumps(json.loads((FIXTURES / "orders.json").read_text())["1042"]))
    ok = run_cli("simulate", "-c", str(EXAMPLE), "order_paid", "1042", "--data", str(data), env=example_env())
    assert ok.returncode == 0, ok.stderr
    assert "Products (ids for products: / upsells:): 77 (Online cursus Basis), 81 (Werkboek (order bump))" in ok.stdout
    broken = tmp_path / "config.yaml"
    broken.write_text(EXAMPLE.read_text().replace("{{ order.invoice_number }}", "{{ order.invoice_nr }}"))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "welcome.html").write_text("<p>hoi</p>")
    failed = run_cli("simulate", "-c", str(broken), "order_paid", "1042", "--data", str(data), env=example_env())
    assert failed.returncode == 1
    assert "NOT RENDERED" in failed.stdout
    assert "did not render: fix the templates" in failed.stdout


# ---------------------------------------------------------------- stand-ins and the demo


async def test_standins_serve_on_the_given_ports_and_print_what_they_receive(tmp_path):
    base = free_port_base(len(PORT_ORDER))
    env_file = tmp_path / "standins.env"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "standins", "--port-base", str(base), "--env-file", str(env_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        seen = []
        while not seen or not seen[-1].startswith("Waiting for mail and requests"):
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "standins exited early:\n" + "".join(seen)
            seen.append(line)
        variables = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert variables["PLUGANDPAY_API_URL"] == f"http://127.0.0.1:{base}"
        assert variables["SMTP_PORT"] == str(base + 1)
        assert variables["LMS_URL"] == f"http://127.0.0.1:{base + 2}/lms"
        assert variables["AC_URL"] == f"http://127.0.0.1:{base + 3}"
        assert variables["MONEYBIRD_URL"].startswith(f"http://127.0.0.1:{base + 4}/api/v2/")
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{base + 2}/hello", json={"n": 1})
            assert answer.status_code == 200
            api = await client.get(
                f"http://127.0.0.1:{base}/v2/orders/1042",
                headers={"Authorization": f"Bearer {variables['PLUGANDPAY_API_TOKEN']}", "Accept": "application/json"},
            )
            assert api.json()["data"]["id"] == 1042
        printed = {(await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip() for _ in range(2)}
        assert printed == {'http    POST /hello {"n":1}', "api     GET /v2/orders/1042"}
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_the_demo_runs_on_fixed_ports():
    base = free_port_base(len(PORT_ORDER) + 1)
    result = subprocess.run(
        [sys.executable, "-m", "router", "demo", "--port-base", str(base)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"daemon  http://127.0.0.1:{base + len(PORT_ORDER)}/webhooks/plugandpay" in result.stdout
    assert re.search(r"All \d+ deliveries of 6 webhooks arrived", result.stdout)


# ---------------------------------------------------------------- the command line itself


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"plugpay-router {__version__}"


def test_a_usage_error_prints_the_commands_own_usage():
    unknown = run_cli("check", "-c", "config.yaml", "--bogus")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("usage: plugpay-router check ")
    assert unknown.stderr.rstrip().endswith("plugpay-router check: error: unrecognized arguments: --bogus")
    missing = run_cli("standins")
    assert missing.returncode == 2
    assert missing.stderr.startswith("usage: plugpay-router standins ")
    assert "the following arguments are required: --port-base" in missing.stderr


def test_every_option_has_help_and_shows_its_default():
    result = run_cli("events", "--help")
    assert "\n\nlist stored events, newest first\n\n" in result.stdout  # the description line
    assert "--limit LIMIT         at most this many (default: 50)" in result.stdout
    serve = run_cli("serve", "--help").stdout
    assert "(default: info)" in serve
