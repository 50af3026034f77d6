"""Stale webhooks, in process: one sent before the dedupe window cannot be told apart from a captured one
replayed after its dedupe key expired, so it is stale; its age comes from ``sent_at`` (ISO 8601, or epoch
seconds or milliseconds), and a ``sent_at`` that cannot be read counts as fresh."""

from __future__ import annotations

import pytest

from router.inbound.stale import is_stale


def test_a_webhook_sent_before_the_window_is_stale_and_an_unreadable_sent_at_is_fresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cutoff = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert is_stale("2025-12-31T23:59:59.000000Z", cutoff)
    assert not is_stale("2026-01-01T00:00:01Z", cutoff)
    assert is_stale("2025-12-31T23:00:00+00:00", cutoff) and is_stale("2025-12-31 23:00:00", cutoff)
    assert is_stale(str(cutoff - 5), cutoff) and is_stale(str(int(cutoff * 1000) - 5000), cutoff)
    assert not is_stale(None, cutoff)
    assert not is_stale("last tuesday", cutoff)
