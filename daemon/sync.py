"""
One sync pass of one source: load cursor -> read window -> map -> media -> bulk PATCH -> commit.

The order of commits is the whole point (rules 5-7 of ``sync-engineering.md``): a batch is
written to the PIM first; then, in ONE store transaction, its per-item outcomes, its failed items
and the advanced cursor are recorded. A crash anywhere costs at most a re-send (every write sets
absolute values and unchanged content is skipped by hash), never a loss.

Memory stays O(batch): pages are streamed from the source, grouped into bounded batches, and each
batch is forgotten once committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

import structlog

from daemon import logs
from daemon.batch import BatchProcessor, BatchReport, BatchWrite
from daemon.errors import CheckpointError, SourceAssetError
from daemon.models import Cursor, DamAsset, Window
from daemon.planning import FamilyBatcher, advance, dedupe_page, plan_window
from daemon.store import Checkpoint, Lease, RunCounts, RunStatus, StoreUnavailableError

log = structlog.get_logger(__name__)

PassStatus = Literal["succeeded", "partial", "failed", "skipped", "stopped"]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """
    Per-source engine settings.

    Args:
        lookback: Re-read this far before the cursor (late commits, clock skew).
        settle_delay: Read only changes at least this old on the DAM's clock.
        batch_size: Assets per PIM bulk request (Akeneo's maximum is 100).
        batch_bytes: Estimated payload bytes per batch.
        media_concurrency: Binary transfers at once.
        lease_ttl: Seconds a pass holds the per-source lease.
        pipeline_depth: Batches written to the PIM at once (commits stay in order).
    """

    lookback: timedelta = timedelta(minutes=5)
    settle_delay: timedelta = timedelta(seconds=30)
    batch_size: int = 100
    batch_bytes: int = 4 * 1024 * 1024
    media_concurrency: int = 4
    lease_ttl: float = 600.0
    pipeline_depth: int = 4


@dataclass(slots=True)
class PassResult:
    """What one pass did: the canonical summary line and the run's audit record."""

    source: str
    run_id: int | None
    status: PassStatus = "succeeded"
    read: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    deleted: int = 0
    batches: int = 0
    duration: float = 0.0
    cursor: Cursor | None = None
    window: Window | None = None
    error: str | None = None
    dry_run: bool = False
    dry_run_items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, report: BatchReport) -> None:
        self.written += report.written
        self.unchanged += report.unchanged
        self.failed += report.failed
        self.skipped += report.skipped
        self.deleted += report.deleted
        self.batches += 1

    def run_counts(self) -> RunCounts:
        return RunCounts(
            seen=self.read,
            written=self.written,
            unchanged=self.unchanged + self.skipped,
            failed=self.failed,
            deleted=self.deleted,
        )

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "written": self.written,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "skipped": self.skipped,
            "deleted": self.deleted,
        }


class PassObserver(Protocol):
    """Progress and metrics hooks of a pass (the CLI's progress bar, the daemon's metrics)."""

    def batch_done(self, source: str, report: BatchReport, duration: float) -> None: ...

    def pass_done(self, result: PassResult) -> None: ...


class EngineStore(Protocol):
    """The part of the state store a pass uses (``daemon.store.Store`` implements it)."""

    def acquire_lease(
        self, source: str, holder: str, ttl_seconds: float, *, takeover: str | None = None
    ) -> Lease | None: ...

    def lease_holder(self, source: str) -> str | None: ...

    def release_lease(self, lease: Lease) -> bool: ...

    def load_checkpoint(self, source: str) -> Checkpoint | None: ...

    def start_run(self, source: str) -> int: ...

    def finish_run(
        self, run_id: int, status: RunStatus, counts: RunCounts, error: str | None = None
    ) -> bool: ...


#: How a pass's status is kept in the runs audit trail.
RUN_STATUS: dict[PassStatus, RunStatus] = {
    "succeeded": "success",
    "partial": "partial",
    "failed": "failed",
    "skipped": "aborted",
    "stopped": "aborted",
}


class ChangeSource(Protocol):
    name: str
    sorted_by_cursor: bool

    async def server_now(self) -> Any: ...

    def changes(self, window: Window) -> Any: ...


async def run_pass(
    source: ChangeSource,
    processor: BatchProcessor,
    store: EngineStore,
    options: SyncOptions,
    *,
    holder: str = "",
    observer: PassObserver | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    dead_holder: Callable[[str], bool] | None = None,
) -> PassResult:
    """
    Run one pass of ``source`` and return its summary.

    Transient failures of the DAM or the PIM end the pass as ``failed`` with everything before
    the failing batch committed; the next pass resumes from the stored cursor. When ``stop`` is
    set, the pass ends after the batch in flight is committed (status ``stopped``).
    """
    started = clock()
    result = PassResult(source=source.name, run_id=None, dry_run=processor.dry_run)
    holder = holder or f"damsync-{uuid.uuid4().hex[:12]}"
    lease: Lease | None = None
    try:
        result.run_id = await asyncio.to_thread(store.start_run, source.name)
        lease = await acquire_lease(store, source.name, holder, options.lease_ttl, dead_holder)
        if lease is None:
            result.status = "skipped"
            result.error = "another process holds this source's lease"
            log.warning("sync.lease_busy", source=source.name)
        else:
            await _read_window(source, processor, store, options, lease, result, observer, stop)
            if result.failed and result.status == "succeeded":
                result.status = "partial"
    except asyncio.CancelledError:
        # Shutdown past its grace: what was committed stays; record the run, then unwind.
        result.status = "failed"
        result.error = "cancelled during shutdown"
        await asyncio.shield(_finish(store, result, started, clock, observer, lease))
        raise
    except Exception as exc:  # every failure ends the pass, recorded; committed batches stay
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
        log.error("sync.pass_failed", source=source.name, error=result.error)
    await _finish(store, result, started, clock, observer, lease)
    return result


async def acquire_lease(
    store: EngineStore,
    source: str,
    holder: str,
    ttl: float,
    dead_holder: Callable[[str], bool] | None = None,
) -> Lease | None:
    """
    Take the source's lease; a lease left by a dead local process is taken over at once.

    Without the takeover, a daemon restarted after a crash would wait for its own previous
    incarnation's lease to expire (``store.lease_ttl``).
    """
    lease = await asyncio.to_thread(store.acquire_lease, source, holder, ttl)
    if lease is not None or dead_holder is None:
        return lease
    current = await asyncio.to_thread(store.lease_holder, source)
    if current is None or not dead_holder(current):
        return None
    log.warning("sync.lease_taken_over", source=source, dead_holder=current)
    return await asyncio.to_thread(
        functools.partial(store.acquire_lease, source, holder, ttl, takeover=current)
    )


async def _read_window(
    source: ChangeSource,
    processor: BatchProcessor,
    store: EngineStore,
    options: SyncOptions,
    lease: Lease,
    result: PassResult,
    observer: PassObserver | None,
    stop: asyncio.Event | None,
) -> None:
    checkpoint = await asyncio.to_thread(store.load_checkpoint, source.name)
    cursor: Cursor | None = checkpoint.cursor if checkpoint is not None else None
    window = plan_window(
        cursor,
        await source.server_now(),
        lookback=options.lookback,
        settle_delay=options.settle_delay,
        previous_until=checkpoint.window.until
        if checkpoint is not None and checkpoint.window is not None
        else None,
    )
    result.window = window
    log.info("sync.window", source=source.name, since=window.since, until=window.until)
    batcher = FamilyBatcher(max_items=options.batch_size, max_bytes=options.batch_bytes)
    route = await processor.router()
    # A source that cannot sort by (updated_at, id) only moves the cursor at window end (rule 8).
    sorted_source = source.sorted_by_cursor
    pending_errors: list[SourceAssetError] = []
    pipeline = _Pipeline(processor, lease, result, window, observer, options.pipeline_depth)
    pipeline.cursor = pipeline.planned = cursor

    async def submit(assets: list[DamAsset], new_cursor: Cursor | None) -> None:
        nonlocal pending_errors
        errors, pending_errors = pending_errors, []
        await pipeline.submit(assets, errors, new_cursor)

    try:
        async for page in source.changes(window):
            assets = dedupe_page(page.assets)
            result.read += len(assets) + len(page.errors)
            pending_errors.extend(page.errors)
            for asset in assets:
                full = batcher.add(asset, route(asset))
                if full is None:
                    continue
                # Only up to just before the oldest asset still waiting in another buffer.
                safe = batcher.safe_cursor() if sorted_source else None
                await submit(full, advance(pipeline.planned, safe, window.until))
                if stop is not None and stop.is_set():
                    # Everything submitted is committed; the rest is read again next time.
                    await pipeline.drain()
                    result.status = "stopped"
                    result.cursor = pipeline.cursor
                    log.info("sync.pass_stopping", source=source.name)
                    return
        batches = batcher.drain()
        # The window is read to its end: everything read is in these last batches.
        final = advance(pipeline.planned, batcher.safe_cursor(), window.until)
        for i, batch in enumerate(batches):
            await submit(batch, final if i == len(batches) - 1 else pipeline.planned)
        if not batches:
            await submit([], final)
        await pipeline.drain()
    finally:
        await pipeline.cancel()
    result.cursor = pipeline.cursor


class _Pipeline:
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
        self, assets: list[DamAsset], errors: list[SourceAssetError], new_cursor: Cursor | None
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


async def _finish(
    store: EngineStore,
    result: PassResult,
    started: float,
    clock: Callable[[], float],
    observer: PassObserver | None,
    lease: Lease | None = None,
) -> None:
    """
    Record the run, release the lease, log the summary line, tell the observer.

    The summary line and the observer always run, even when the database is the reason the
    pass failed: an outage must show in the metrics and the logs, not only as staleness.
    """
    result.duration = clock() - started
    try:
        if result.run_id is not None:
            # A dry run wrote nothing: it must not count as a success (readiness, metrics).
            status = "aborted" if result.dry_run else RUN_STATUS[result.status]
            error = "dry run: nothing was written" if result.dry_run else result.error
            await asyncio.to_thread(
                store.finish_run, result.run_id, status, result.run_counts(), error
            )
        if lease is not None:
            await asyncio.to_thread(store.release_lease, lease)
    except (StoreUnavailableError, CheckpointError) as exc:
        log.error("sync.run_not_recorded", source=result.source, error=str(exc))
    log.info(
        "sync.pass_finished",
        source=result.source,
        status=result.status,
        duration_s=round(result.duration, 3),
        **result.counts(),
    )
    if observer is not None:
        observer.pass_done(result)


__all__ = ["PassObserver", "PassResult", "PassStatus", "SyncOptions", "run_pass"]
