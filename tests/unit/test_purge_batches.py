"""The retention purge in batches (``router.retention.in_batches``): it purges ``PURGE_BATCH`` rows at a time
until a batch comes back short, so everything due goes in one round, a whole multiple of the batch size
included, and a short batch ends the round without one more query."""

from __future__ import annotations

import pytest

from router import retention
from router.retention import PURGE_BATCH, in_batches


class Due:
    """Rows due for purging; each call deletes at most one batch, as ``Store.purge`` does."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.calls = 0

    async def purge(self) -> int:
        self.calls += 1
        deleted = min(self.rows, PURGE_BATCH)
        self.rows -= deleted
        return deleted


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "PURGE_PAUSE", 0.0)  # the pause lets webhooks in; nothing competes here


@pytest.mark.parametrize("batches", [1, 3])
async def test_a_whole_multiple_of_the_batch_size_is_purged_to_the_last_row(batches: int) -> None:
    due = Due(batches * PURGE_BATCH)
    assert await in_batches(due.purge) == batches * PURGE_BATCH
    assert due.rows == 0
    assert due.calls == batches + 1  # the last, empty batch is what says "nothing left"


@pytest.mark.parametrize("rows", [0, 1, PURGE_BATCH - 1, 2 * PURGE_BATCH + 7])
async def test_a_short_batch_ends_the_round(rows: int) -> None:
    due = Due(rows)
    assert await in_batches(due.purge) == rows
    assert due.rows == 0
    assert due.calls == rows // PURGE_BATCH + 1
