"""Rule tests (``plugpay-router test -c FILE CASES.yaml``): run the cases of a cases file and report.

Each case (read and checked by ``router.tools.case_file``) runs through ``route.plan``, the function the daemon
uses, and never touches the network or the store. A case passes when the rules it names matched, the
others did not for the reasons it gives, and the rendered actions have every field it lists; a failing
case shows a diff of what it checks.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from router.config import Config
from router.routing.route import plan
from router.store.base import NewDelivery
from router.tools.case_file import Case, ExpectedAction, load_cases


@dataclass(frozen=True)
class CaseResult:
    case: Case
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Report:
    results: list[CaseResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def text(self) -> str:
        lines = []
        for result in self.results:
            if result.ok:
                lines.append(f"PASS  {result.case.name}")
                continue
            lines.append(f"FAIL  {result.case.name} ({result.case.where})")
            for failure in result.failures:
                lines.extend(f"      {part}" for part in failure.splitlines())
        passed = sum(r.ok for r in self.results)
        failed = len(self.results) - passed
        lines.append(
            f"{len(self.results)} case{'s' if len(self.results) != 1 else ''}: {passed} passed, {failed} failed"
        )
        return "\n".join(lines)


def run_file(config: Config, path: str) -> Report:
    """Load a cases file (ConfigError listing every problem in it) and run every case."""
    return Report([run_case(config, case) for case in load_cases(path, config)])


def run_case(config: Config, case: Case) -> CaseResult:
    result = plan(case.event, case.data, config, case.now, explain=True)
    outcomes = {o.rule.name: o for o in result.outcomes}
    failures: list[str] = []
    if case.matched is not None:
        actual = [o.rule.name for o in result.outcomes if o.matched]
        missing = [name for name in case.matched if name not in actual]
        unexpected = [name for name in actual if name not in case.matched]
        if missing or unexpected:
            lines = ["matched rules differ (- expected, not matched; + matched, not expected):"]
            lines += [f"  - {name}  ({outcomes[name].reason})" for name in missing]
            lines += [f"  + {name}" for name in unexpected]
            failures.append("\n".join(lines))
    for name, text in case.reasons.items():
        outcome = outcomes[name]
        if outcome.matched:
            failures.append(f"reasons.{name}: expected no match (because of {text!r}), but the rule matched")
        elif text.lower() not in outcome.reason.lower():
            failures.append(f"reasons.{name}: expected the reason to mention {text!r}, got: {outcome.reason}")
    if case.actions is not None:
        failures.extend(_compare_actions(case.actions, result.deliveries))
    return CaseResult(case, failures)


def _label(delivery: NewDelivery) -> str:
    item = f" [item {delivery.item_key}]" if delivery.item_key else ""
    return f"{delivery.rule} -> {delivery.connector}{item}"


def _compare_actions(expected: Sequence[ExpectedAction], actual: Sequence[NewDelivery]) -> list[str]:
    if len(expected) != len(actual):
        wanted = [
            " -> ".join(str(e.fields[k]) for k in ("rule", "connector") if k in e.fields)
            + (f" [item {e.fields['item']}]" if "item" in e.fields else "")
            for e in expected
        ]
        got = [_label(d) for d in actual]
        count = f"expected {len(expected)} action{'s' if len(expected) != 1 else ''}, rendered {len(actual)}"
        return [f"{count}:\n" + _diff(wanted, got)]
    failures = []
    for index, (want_action, delivery) in enumerate(zip(expected, actual, strict=True)):
        have = {
            "rule": delivery.rule,
            "connector": delivery.connector,
            "item": delivery.item_key,
            "status": delivery.status,
            "request": delivery.request,
        }
        want = want_action.fields
        problems = []
        if not matches(want, have):
            problems.append(_diff(want, project(want, have)))
        if want_action.error is not None and want_action.error.lower() not in (delivery.error or "").lower():
            problems.append(f"expected the error to mention {want_action.error!r}, got: {delivery.error or 'no error'}")
        elif delivery.status == "dead" and want.get("status") != "dead" and want_action.error is None:
            problems.append(f"could not be rendered: {delivery.error}")
        if problems:
            failures.append(f"actions[{index}] {_label(delivery)}:\n" + "\n".join(problems))
    return failures


def _same_scalar(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if want == have:
        return True
    if isinstance(have, str) and isinstance(want, int | float):
        try:
            return Decimal(have.strip()) == Decimal(str(want))  # templates render text: 77 matches "77"
        except InvalidOperation:
            return False
    if isinstance(have, str) and isinstance(want, dt.date):
        return have.startswith(want.isoformat())
    return False


def matches(want: Any, have: Any) -> bool:
    """``have`` has every field ``want`` lists (mappings partially, lists element by element)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and matches(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(matches(w, h) for w, h in zip(want, have, strict=True))
        )
    return _same_scalar(want, have)


def project(want: Any, have: Any) -> Any:
    """``have`` cut down to the fields ``want`` lists, so a diff shows only what the case checks."""
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        return {k: project(v, have[k]) for k, v in want.items() if k in have}
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        return [project(w, h) for w, h in zip(want, have, strict=True)]
    return want if matches(want, have) else have


def _diff(want: Any, have: Any) -> str:
    def lines(value: Any) -> list[str]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        return json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()

    diff = difflib.unified_diff(lines(want), lines(have), "expected", "actual", lineterm="", n=2)
    return "\n".join(f"  {line}" for line in diff)
