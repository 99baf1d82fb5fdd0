"""
Batches written to the PIM concurrently, committed strictly in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from daemon.core.errors import SourceAssetError
from daemon.core.records import Cursor, Window
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.batcher import Routed
from daemon.engine.outcomes import BatchWrite, PassResult
from daemon.engine.seams import PassObserver
from daemon.store import Lease
from daemon.telemetry import logs


class WritePipeline:
    """
    Up to ``depth`` batches written to the PIM at once, committed strictly in batch order.

    Writing batch n+1 while batch n waits for the PIM (and reading the next pages meanwhile)
    fills the PIM's fair-use concurrency; committing in order keeps rule 5: the cursor only
    ever passes batches whose outcomes are recorded.
    """

    def __init__(
        self,
        processor: BatchProcessor,
        lease: Lease,
        result: PassResult,
        window: Window,
        observer: PassObserver | None,
        depth: int,
    ) -> None:
        self.processor = processor
        self.lease = lease
        self.result = result
        self.window = window
        self.observer = observer
        self.depth = max(1, depth)
        self.inflight: deque[tuple[asyncio.Task[BatchWrite], Cursor | None, float, int]] = deque()
        self.submitted = 0
        self.cursor: Cursor | None = None  # committed
        self.planned: Cursor | None = None  # of the newest submitted batch

    async def submit(
        self, assets: list[Routed], errors: list[SourceAssetError], new_cursor: Cursor | None
    ) -> None:
        self.submitted += 1
        with logs.bind_batch(self.submitted):
            task = asyncio.create_task(
                self.processor.write(assets, errors, run_id=self.result.run_id)
            )
        self.inflight.append((task, new_cursor, time.perf_counter(), self.submitted))
        self.planned = new_cursor
        while len(self.inflight) >= self.depth:
            await self.commit_oldest()

    async def commit_oldest(self) -> None:
        task, new_cursor, started, number = self.inflight.popleft()
        written = await task
        with logs.bind_batch(number):
            report = await self.processor.commit(
                written,
                lease=self.lease,
                run_id=self.result.run_id,
                cursor=new_cursor,
                window=self.window,
            )
        self.cursor = new_cursor
        self.result.add(report)
        self.result.dry_run_items.extend(report.dry_run_items)
        if self.observer is not None:
            self.observer.batch_done(self.result.source, report, time.perf_counter() - started)

    async def drain(self) -> None:
        while self.inflight:
            await self.commit_oldest()

    async def cancel(self) -> None:
        """A failed pass: batches written but not committed are simply sent again next time."""
        for task, *_ in self.inflight:
            task.cancel()
        for task, *_ in self.inflight:
            with contextlib.suppress(BaseException):
                await task
        self.inflight.clear()
