"""The chat webhook types (``slack``, ``discord``) without a server: what ``check`` says of their settings and
actions (never quoting the secret URL), what ``simulate`` shows, mentions escaped, text cut to Discord's size."""

from __future__ import annotations

import textwrap

import pytest

from connectors.discord import DiscordConnector, discord_content, discord_receipt
from connectors.slack import SlackConnector, quiet
from router.config import ConfigError, parse_config
from router.demo.report import describe_request
from router.tools.simulate import destination

SLACK_URL = "https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tS3cr3tS3cr3t"
DISCORD_URL = "https://discord.com/api/webhooks/1234567890/t0k3n-t0k3n-t0k3n"


def problems_of(connectors: str, rules: str = "", env: dict[str, str] | None = None, **kw: bool) -> list[str]:
    text = "version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n" + textwrap.indent(connectors, "  ")
    if rules:
        text += "rules:\n  - name: r\n    trigger: order_paid\n    actions:\n" + textwrap.indent(rules, "      ")
    try:
        parse_config(text, "c.yaml", env or {}, **kw)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_a_webhook_url_on_the_provider_s_host_over_https_is_accepted():
    assert (
        problems_of(
            f'a: {{type: slack, webhook_url: "{SLACK_URL}"}}\nb: {{type: discord, webhook_url: "{DISCORD_URL}"}}'
        )
        == []
    )
    assert problems_of('d: {type: discord, webhook_url: "https://discordapp.com/api/v10/webhooks/1/tok"}') == []


def test_another_host_is_refused_without_quoting_the_secret_url():
    found = problems_of(
        'a: {type: slack, webhook_url: "http://hooks.slack.com/services/T0/B0/s3cr3t-one"}\n'
        'b: {type: discord, webhook_url: "https://evil.example/api/webhooks/1/s3cr3t-two"}'
    )
    assert found == [
        "c.yaml:4: connectors.a.webhook_url: must be an https:// URL on hooks.slack.com or hooks.slack-gov.com "
        "(https://hooks.slack.com/services/T.../B.../...), got host 'hooks.slack.com' over http; for a stand-in, "
        "a proxy or another Slack host set base_url (the webhook URL's path is then sent there)",
        "c.yaml:5: connectors.b.webhook_url: must be an https:// URL on discord.com or discordapp.com or "
        "ptb.discord.com or canary.discord.com (https://discord.com/api/webhooks/<id>/<token>), got host "
        "'evil.example' over https; for a stand-in, a proxy or another Discord host set base_url (the webhook "
        "URL's path is then sent there)",
    ]


def test_base_url_takes_any_host_but_the_path_must_still_be_a_webhook_s():
    base = 'base_url: "http://127.0.0.1:8125"'
    assert problems_of(f'a: {{type: slack, webhook_url: "http://127.0.0.1:8125/services/T/B/x", {base}}}') == []
    assert problems_of(f'a: {{type: discord, webhook_url: "/api/webhooks/1/tok", {base}}}') == []
    assert problems_of(f'a: {{type: discord, webhook_url: "{DISCORD_URL}/slack", {base}}}') == [
        "c.yaml:4: connectors.a.webhook_url: is not a Discord webhook URL: expected "
        "https://discord.com/api/webhooks/<id>/<token>"
    ]
    assert problems_of(f'a: {{type: slack, webhook_url: "{SLACK_URL}", base_url: "127.0.0.1:8125"}}') == [
        "c.yaml:4: connectors.a.base_url: must be an http:// or https:// URL without a query, e.g. http://127.0.0.1:8125"
    ]


def test_an_empty_base_url_from_the_environment_means_the_provider_itself():
    env = {"SLACK_WEBHOOK_SECRET": SLACK_URL}
    text = 'a: {type: slack, webhook_url: "${SLACK_WEBHOOK_SECRET}", base_url: "${SLACK_BASE_URL:-}"}'
    assert problems_of(text, env=env) == []


def test_an_unset_webhook_variable_is_only_noted_offline():
    assert problems_of('a: {type: slack, webhook_url: "${SLACK_WEBHOOK_SECRET}"}', offline=True) == []


def test_an_action_needs_text_or_blocks_or_embeds():
    connectors = f'a: {{type: slack, webhook_url: "{SLACK_URL}"}}\nb: {{type: discord, webhook_url: "{DISCORD_URL}"}}\n'
    rules = "- {connector: a, blocks: 3}\n- {connector: b, username: Shop}\n- {connector: a, embeds: []}\n"
    assert problems_of(connectors, rules) == [
        "c.yaml:10: rules[0].actions[0].blocks: expected a list of Block Kit blocks "
        "(or a template ending in '| tojson')",
        "c.yaml:11: rules[0].actions[1].text: a Discord message needs text (or embeds)",
        "c.yaml:12: rules[0].actions[2].embeds: unknown key",
        "c.yaml:12: rules[0].actions[2].text: a Slack message needs text (or blocks)",
    ]


def test_check_render_names_what_the_provider_would_refuse():
    settings = {"webhook_url": SLACK_URL}
    assert SlackConnector.check_rendered({"text": "Hoi"}, settings) == []
    assert SlackConnector.check_rendered({"text": ""}, settings) == [
        "nothing to send: text rendered empty and there are no blocks"
    ]
    assert SlackConnector.check_rendered({"blocks": "not json"}, settings) == [
        "blocks: rendered text that is not JSON (end the template with '| tojson')"
    ]
    assert SlackConnector.check_rendered({"blocks": [{"type": "divider"}] * 51}, settings) == [
        "blocks: Slack takes at most 50 blocks per message, got 51"
    ]
    assert DiscordConnector.check_rendered({"embeds": [{"title": "x"}] * 11}, {"webhook_url": DISCORD_URL}) == [
        "embeds: Discord takes at most 10 embeds per message, got 11"
    ]


def test_simulate_shows_the_webhook_with_its_secret_masked():
    config = parse_config(
        "version: 1\nplugandpay: {allow_unsigned: true}\nconnectors:\n"
        f'  a: {{type: slack, webhook_url: "{SLACK_URL}"}}\n'
        f'  b: {{type: discord, webhook_url: "{DISCORD_URL}", base_url: "http://127.0.0.1:8125/"}}\n',
        "c.yaml",
        {},
    )
    a, b = config.connectors["a"], config.connectors["b"]
    assert destination(a, {"text": "Hoi"}) == {"webhook": "https://hooks.slack.com/services/T0AAA/B0BBB/***"}
    assert destination(b, {"text": "Hoi"}) == {"webhook": "http://127.0.0.1:8125/api/webhooks/1234567890/***"}
    blocks = [{"type": "divider"}, {"type": "divider"}]
    assert describe_request(a, {"text": "Nieuwe  bestelling\nvan Bilal", "blocks": blocks}) == (
        'Slack message: "Nieuwe bestelling van Bilal", 2 blocks'
    )
    assert describe_request(b, {"embeds": [{"title": "x"}]}) == "Discord message: (no text), 1 embed"


def test_one_webhook_is_one_rate_limit_and_its_key_shows_no_secret():
    key = SlackConnector.rate_destination("a", {"webhook_url": SLACK_URL})
    assert key == SlackConnector.rate_destination("b", {"webhook_url": SLACK_URL})
    assert key != SlackConnector.rate_destination("a", {"webhook_url": SLACK_URL + "x"})
    assert key.startswith("slack:") and "s3cr3t" not in key and "B0BBB" not in key
    assert str(SlackConnector.default_rate({})) == "1/1s" and str(DiscordConnector.default_rate({})) == "5/2s"


@pytest.mark.parametrize(
    ("text", "quieted"),
    [
        (
            "<!channel> <!here> <!everyone> <!subteam^S0614TZR7>",
            "&lt;!channel> &lt;!here> &lt;!everyone> &lt;!subteam^S0614TZR7>",
        ),
        ("hoi <@U024BE7LH>", "hoi &lt;@U024BE7LH>"),
        ("<https://shop.example.nl/o/42|bekijk> & <#C123>, Eve <a@evil.example>", None),
    ],
)
def test_slack_mention_sequences_are_escaped_and_nothing_else(text, quieted):
    assert quiet(text) == (text if quieted is None else quieted)


def test_slack_plain_text_objects_are_left_as_they_are():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "<!channel> Bilal"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "<!channel> Bilal"}},
    ]
    assert quiet(blocks) == [blocks[0], {"type": "section", "text": {"type": "mrkdwn", "text": "&lt;!channel> Bilal"}}]


def test_discord_text_is_cut_to_2000_characters_and_known_by_what_was_sent():
    assert discord_content("kort") == "kort"
    cut = discord_content("é" * 2001)
    assert len(cut) == 2000 and cut.endswith("é…")
    request = {"text": "y" * 3000}
    assert DiscordConnector.receipt_key(request) == discord_receipt(discord_content("y" * 3000))
    assert DiscordConnector.receipt_key({"embeds": [{"title": "x"}]}) is None
