"""
One sync pass of one source: load cursor -> read window -> map -> media -> bulk PATCH -> commit.

The order of commits is the whole point (rules 5-7 of ``sync-engineering.md``): a batch is
written to the PIM first; then, in ONE store transaction, its per-item outcomes, its failed items
and the advanced cursor are recorded. A crash anywhere costs at most a re-send (every write sets
absolute values and unchanged content is skipped by hash), never a loss.

Memory stays O(batch): pages are streamed from the source, grouped into bounded batches, and each
batch is forgotten once committed.

Time is bounded too: a pass that reaches ``SyncOptions.pass_deadline`` stops as a graceful stop
does (the batches in flight are committed, the cursor stays at the last committed batch) and
ends ``failed``, so a DAM that is slow without ever failing cannot hold the lease for ever; the
next pass resumes from the cursor.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from daemon.core.errors import CheckpointError, SourceAssetError
from daemon.core.records import Cursor, SourcePage
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.batcher import FamilyBatcher, Routed
from daemon.engine.checkpoint import advance, dedupe_page, plan_window
from daemon.engine.leasing import busy_reason, leased
from daemon.engine.outcomes import RUN_STATUS, PassResult, PassStatus, error_text
from daemon.engine.pipeline import WritePipeline
from daemon.engine.read_ahead import ReadAhead
from daemon.engine.seams import ChangeSource, EngineStore, PassObserver
from daemon.store import Lease, StoreUnavailableError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """
    Per-source engine settings.

    Args:
        lookback: Re-read this far before the cursor (late commits, clock skew).
        settle_delay: Read only changes at least this old on the DAM's clock.
        batch_size: Assets per PIM bulk request (Akeneo's maximum is 100).
        batch_bytes: Estimated payload bytes per batch.
        lease_ttl: Seconds a pass holds the per-source lease.
        pipeline_depth: Batches written to the PIM at once (commits stay in order).
        pass_deadline: Seconds a pass may run; then it stops like a graceful stop and fails.
    """

    lookback: timedelta = timedelta(minutes=5)
    settle_delay: timedelta = timedelta(seconds=30)
    batch_size: int = 100
    batch_bytes: int = 4 * 1024 * 1024
    lease_ttl: float = 600.0
    pipeline_depth: int = 4
    pass_deadline: float = 3600.0


#: The key named when a pass reaches its deadline.
PASS_DEADLINE_KEY = "sync.pass_deadline"


class PassDeadlineError(Exception):
    """The pass deadline came while a page was awaited; the pass stops between two pages."""


class PassDeadline:
    """
    The pass deadline on the event loop's clock (the clock ``asyncio.timeout`` uses).

    Args:
        seconds: ``SyncOptions.pass_deadline``, counted from now.
    """

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = asyncio.get_running_loop().time() + seconds

    @property
    def error(self) -> str:
        """The error text of a pass that reached it."""
        return f"pass deadline of {self.seconds:g} s reached ({PASS_DEADLINE_KEY})"

    def reached(self) -> bool:
        return asyncio.get_running_loop().time() >= self.at

    async def next_page(self, pages: AsyncIterator[SourcePage]) -> SourcePage | None:
        """
        The next page, ``None`` at the end of the window.

        Raises:
            PassDeadlineError: the deadline came first; the page read is cancelled (never a
                batch write or a commit, which only stop between two pages).
        """
        if self.reached():
            raise PassDeadlineError
        scope = asyncio.timeout_at(self.at)
        try:
            async with scope:
                return await anext(pages)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            if scope.expired():
                raise PassDeadlineError from None
            raise  # the source's own timeout, not the deadline


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
    deadline = PassDeadline(options.pass_deadline)
    result = PassResult(source=source.name, run_id=None, dry_run=processor.dry_run)
    holder = holder or f"damsync-{uuid.uuid4().hex[:12]}"
    try:
        result.run_id = await asyncio.to_thread(store.start_run, source.name)
        async with leased(
            store, source.name, holder, options.lease_ttl, dead_holder, wait=True
        ) as lease:
            if lease is None:
                held = await asyncio.to_thread(store.lease_held, source.name)
                result.status = "skipped"
                result.error = busy_reason(held)
                log.warning(
                    "sync.lease_busy",
                    source=source.name,
                    holder=held.holder if held is not None else None,
                    expires_at=held.expires_at.isoformat() if held is not None else None,
                )
            else:
                await _read_window(
                    source, processor, store, options, lease, result, observer, stop, deadline
                )
                if result.failed and result.status == "succeeded":
                    result.status = "partial"
    except asyncio.CancelledError:
        # Shutdown past its grace: what was committed stays; record the run, then unwind.
        result.status = "failed"
        result.error = "cancelled during shutdown"
        await asyncio.shield(_finish(store, result, started, clock, observer))
        raise
    except Exception as exc:  # every failure ends the pass, recorded; committed batches stay
        result.status = "failed"
        result.error = error_text(exc, with_type=True)  # redacted: stored and printed as is
        log.error("sync.pass_failed", source=source.name, error=result.error)
    await _finish(store, result, started, clock, observer)
    return result


async def _read_window(
    source: ChangeSource,
    processor: BatchProcessor,
    store: EngineStore,
    options: SyncOptions,
    lease: Lease,
    result: PassResult,
    observer: PassObserver | None,
    stop: asyncio.Event | None,
    deadline: PassDeadline,
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
    # A source that cannot sort by (updated_at, id) only moves the cursor at window end (rule 8).
    sorted_source = source.sorted_by_cursor
    pending_errors: list[SourceAssetError] = []
    pipeline = WritePipeline(processor, lease, result, window, observer, options.pipeline_depth)
    pipeline.cursor = pipeline.planned = cursor

    async def submit(assets: list[Routed], new_cursor: Cursor | None) -> None:
        nonlocal pending_errors
        errors, pending_errors = pending_errors, []
        await pipeline.submit(assets, errors, new_cursor)

    async def out_of_time() -> None:
        # As a graceful stop: errors already read are recorded (the cursor stays), every batch
        # in flight is committed; what is still buffered is read again by the next pass.
        if pending_errors:
            await submit([], pipeline.planned)
        await pipeline.drain()
        result.status = "failed"
        result.error = deadline.error
        result.cursor = pipeline.cursor
        log.error("sync.pass_deadline", source=source.name, deadline_s=deadline.seconds)

    # The next page is requested while this one is screened and batched (read_ahead).
    pages = ReadAhead(source.changes(window))
    try:
        while True:
            try:
                page = await deadline.next_page(pages)
            except PassDeadlineError:
                return await out_of_time()
            if page is None:
                break
            assets = dedupe_page(page.assets)
            result.read += len(assets) + len(page.errors)
            pending_errors.extend(page.errors)
            # Mapped and compared with the stored states once per page: unchanged assets wait
            # aside, so a batch is cut on changed assets only (see screening).
            for item in await processor.screen(assets):
                full = batcher.add(item)
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
                if deadline.reached():
                    return await out_of_time()
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
        # A pass that stopped early leaves the listing suspended: close it now, not at exit.
        await pages.aclose()
    result.cursor = pipeline.cursor


async def _finish(
    store: EngineStore,
    result: PassResult,
    started: float,
    clock: Callable[[], float],
    observer: PassObserver | None,
) -> None:
    """
    Record the run, log the summary line, tell the observer (the lease is already released).

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


__all__ = ["PASS_DEADLINE_KEY", "PassResult", "PassStatus", "SyncOptions", "run_pass"]
