"""The position-keeping YAML loader: safe-schema values, lines of keys and items, anchors, merges, mistakes,
and an alias bomb that ``check`` refuses quickly while anchors shared between rules still load."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import yaml

from router import cli
from router.config.source import ConfigError, YList, YMap, load
from tests.rules_support import order, planned

TEXT = """\
text: hello
quoted: "yes"
flag: yes
count: 12
ratio: 1.5
day: 2025-03-14
empty:
forced: !!str 12
list:
  - one
  - {nested: true}
"""


def test_values_follow_the_safe_schema_and_remember_their_lines():
    doc = load(TEXT, "t.yaml")
    assert doc == {
        "text": "hello",
        "quoted": "yes",
        "flag": True,
        "count": 12,
        "ratio": 1.5,
        "day": dt.date(2025, 3, 14),
        "empty": None,
        "forced": "12",
        "list": ["one", {"nested": True}],
    }
    assert doc == yaml.safe_load(TEXT)  # the values PyYAML's safe loader gives
    assert isinstance(doc, YMap) and isinstance(doc["list"], YList)
    assert doc.lines["count"] == 4 and doc.lines["list"] == 9
    assert doc["list"].lines == [10, 11]
    assert doc["list"][1].line == 11


def test_anchors_aliases_and_merge_keys():
    doc = load(
        """\
base: &base {retries: 3, timeout: 10s}
a:
  <<: *base
  timeout: 30s
b: *base
""",
        "t.yaml",
    )
    assert doc["a"] == {"timeout": "30s", "retries": 3}  # explicit keys win over merged ones
    assert doc["a"].lines["retries"] == 1
    assert doc["b"] is doc["base"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 1\nb: 2\na: 3\n", "t.yaml:3: a: duplicate key (first at line 1); keep only one"),
        ("a: [1,\n", "t.yaml:2: invalid YAML: did not find expected node content"),
        ("a: !custom x\n", "t.yaml:1: invalid YAML: unsupported tag '!custom'"),
        ("a: *missing\n", "t.yaml:1: invalid YAML: found undefined alias 'missing'"),
        ("a: 1\n---\nb: 2\n", "t.yaml:2: invalid YAML: expected a single document, but found another one (---)"),
        ("a:\n  <<: 5\n", "t.yaml:2: invalid YAML: a merge key (<<) needs a mapping or a list of mappings"),
    ],
)
def test_mistakes_have_a_line(text, problem):
    with pytest.raises(ConfigError) as info:
        load(text, "t.yaml")
    assert [str(p) for p in info.value.problems] == [problem]


def test_an_empty_file_is_none():
    assert load("", "t.yaml") is None
    assert load("# only a comment\n", "t.yaml") is None


def alias_bomb(levels: int) -> str:
    lines = ["version: 1", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_check_refuses_a_yaml_alias_bomb_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(9))
    started = time.monotonic()
    code = cli.main(["check", "-c", str(path)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 1
    assert elapsed < 2
    assert f"{path}:" in out + err
    assert "aliases expand to more than 1,000,000 entries" in out + err


def test_anchors_shared_between_rules_still_load():
    rules = """
    - name: a
      trigger: order_paid
      actions: &common
        - {connector: mem, text: "{{ order.id }}"}
    - name: b
      trigger: order_paid
      actions: *common
    """
    deliveries = planned(rules, order())
    assert deliveries["a", 0].request == deliveries["b", 0].request == {"text": "1042"}
