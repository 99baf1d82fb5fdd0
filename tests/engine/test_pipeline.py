"""The batch pipeline: writes overlap, commits stay in batch order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from daemon.core.records import Cursor, Window
from daemon.engine.outcomes import BatchReport, BatchWrite, PassResult
from daemon.engine.pipeline import WritePipeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class SlowFirst:
    """Batch 1 takes longest to write; commits must still come 1, 2, 3."""

    dry_run = False

    def __init__(self, fail_on: int | None = None) -> None:
        self.committed: list[Cursor | None] = []
        self.writing = 0
        self.peak = 0
        self.fail_on = fail_on
        self.calls = 0

    async def write(self, assets, errors, *, run_id):
        self.calls += 1
        number = self.calls
        self.writing += 1
        self.peak = max(self.peak, self.writing)
        await asyncio.sleep(0.05 / number)
        self.writing -= 1
        if number == self.fail_on:
            raise RuntimeError(f"batch {number} failed")
        return BatchWrite(BatchReport(size=len(assets)), [], [], [], [], [])

    async def commit(self, batch, *, lease, run_id, cursor, window):
        self.committed.append(cursor)
        return batch.report


def cursor(i: int) -> Cursor:
    return Cursor(T0 + timedelta(seconds=i), f"a{i}")


def pipeline(processor, depth: int) -> WritePipeline:
    window = Window(None, T0 + timedelta(days=1))
    result = PassResult(source="s", run_id=1)
    return WritePipeline(processor, None, result, window, None, depth)  # type: ignore[arg-type]


async def test_writes_overlap_and_commits_keep_batch_order():
    """Three batches are written at once but committed in the order they were submitted."""
    processor = SlowFirst()
    pipe = pipeline(processor, depth=3)
    for i in (1, 2, 3):
        await pipe.submit([], [], cursor(i))
    await pipe.drain()
    assert 3 == processor.peak
    assert [cursor(1), cursor(2), cursor(3)] == processor.committed
    assert cursor(3) == pipe.cursor


async def test_a_failed_write_stops_commits_at_the_batch_before_it():
    """When batch 2 fails, batch 1 is committed, batches 2 and 3 are not."""
    processor = SlowFirst(fail_on=2)
    pipe = pipeline(processor, depth=3)
    for i in (1, 2, 3):
        await pipe.submit([], [], cursor(i))
    with pytest.raises(RuntimeError, match="batch 2"):
        await pipe.drain()
    await pipe.cancel()
    assert [cursor(1)] == processor.committed
    assert cursor(1) == pipe.cursor


async def test_depth_one_is_sequential():
    """With depth 1 no two batches are written at once."""
    processor = SlowFirst()
    pipe = pipeline(processor, depth=1)
    for i in (1, 2, 3):
        await pipe.submit([], [], cursor(i))
    await pipe.drain()
    assert 1 == processor.peak
