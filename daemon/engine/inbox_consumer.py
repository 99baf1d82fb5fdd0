"""
The inbox consumer: DAM events taken from the inbox and written through the path of a pass.

An event is a hint, never data. :func:`consume_inbox` claims a small group of a source's pending
inbox rows under the source's lease, collapses them per asset, fetches the current state of those
assets from the DAM, and writes what the DAM returns through the router, batches, failures,
deletion policy and brake every pass uses (:func:`~daemon.engine.routing.write_routed`). An asset
the DAM no longer returns is deleted only when one of its events said so
(:func:`~daemon.engine.deletions.delete_gone`, behind the one brake); after a ``changed`` event it
stays a failure row for the retry job. Whatever goes wrong with the group (the DAM or the PIM
down, the lease lost, the store away) puts its rows back with a backoff, or dead-letters them at
``max_attempts``: a row is never lost. Scheduling (the debounce, the wake-ups) is the service's.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from daemon.core.errors import SourceAssetError
from daemon.core.events import InboxEntry
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.deletions import delete_gone
from daemon.engine.leasing import dead_local_holder, leased
from daemon.engine.outcomes import error_text
from daemon.engine.routing import write_routed
from daemon.engine.seams import EventObserver, InboxConsumerStore, InboxStore, JobSource
from daemon.store import Lease
from daemon.telemetry import logs

log = structlog.get_logger(__name__)


def utc_now() -> datetime:
    """The wall clock, aware UTC (the consumer's default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class InboxOptions:
    """
    How a source's inbox is consumed.

    Args:
        claim_batch: Inbox rows claimed per consume (one row is one asset of one event).
        claim_seconds: How long a claim lasts; rows of a consumer that died are taken by
            another one after it. Must exceed a consume's duration.
        max_attempts: Claims of a row before it is dead-lettered.
        retry_base: Seconds before a failed row is claimed again, doubled per attempt...
        retry_max: ...up to this many.
        retention: Seconds finished rows are kept (dedupe of redelivered events) before
            :func:`prune_inbox` removes them.
    """

    claim_batch: int = 100
    claim_seconds: float = 300.0
    max_attempts: int = 10
    retry_base: float = 5.0
    retry_max: float = 600.0
    retention: float = 7 * 86400.0

    def __post_init__(self) -> None:
        if self.claim_batch < 1 or self.max_attempts < 1:
            raise ValueError("claim_batch and max_attempts must be at least 1")
        if min(self.claim_seconds, self.retry_base, self.retry_max, self.retention) <= 0:
            raise ValueError("claim_seconds, retry_base, retry_max and retention must be > 0")

    def retry_delay(self, attempts: int) -> float:
        """Seconds before a row that failed its ``attempts``-th claim is claimed again."""
        return float(min(self.retry_max, self.retry_base * 2 ** max(attempts - 1, 0)))


@dataclass(slots=True)
class ConsumeReport:
    """
    What one consume did.

    Args:
        source: The source's configured name.
        claimed: Inbox rows claimed.
        assets: Distinct assets they named (one fetch and at most one write each).
        written: Assets written to the PIM.
        unchanged: Assets whose content the PIM already had.
        skipped: Assets no mapping rule matches (on purpose).
        failed: Assets recorded as failures (retried by the retry job).
        deleted: Tombstones the DAM reported, applied by the deletion policy.
        gone: Assets the DAM no longer returns after a ``deleted`` event, sent as tombstones
            (the policy and the brake decide what happens to each).
        released: Rows put back (or dead-lettered) because the consume failed.
        lease_busy: Another job held the source's lease: nothing was claimed.
        error: Why the consume failed (redacted), or ``None``.
        received: When each finished row was received (for the event-to-PIM latency).
        finished_at: When the rows were finished.
    """

    source: str
    claimed: int = 0
    assets: int = 0
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    gone: int = 0
    released: int = 0
    lease_busy: bool = False
    error: str | None = None
    received: list[datetime] = field(default_factory=list)
    finished_at: datetime | None = None

    def latencies(self) -> list[float]:
        """Seconds from each finished row's receipt to its finish."""
        end = self.finished_at
        if end is None:
            return []
        return [max((end - at).total_seconds(), 0.0) for at in self.received]


@dataclass(frozen=True, slots=True)
class AssetHints:
    """The claimed rows of one asset: what their events said, collapsed."""

    dam_id: str
    deleted: bool


def collapse(entries: Sequence[InboxEntry]) -> list[AssetHints]:
    """
    One hint per asset, in the order the assets were first received; ``deleted`` when any of
    its events said so (the DAM decides whether it is).
    """
    said: dict[str, bool] = {}
    for entry in sorted(entries, key=lambda e: (e.received_at, e.id)):
        said[entry.dam_id] = said.get(entry.dam_id, False) or entry.kind == "deleted"
    return [AssetHints(dam_id, deleted) for dam_id, deleted in said.items()]


def split_gone(
    errors: Sequence[SourceAssetError], deleted: set[str]
) -> tuple[list[str], list[SourceAssetError]]:
    """
    The ids the DAM did not return (errors on field ``id``) that an event said were deleted,
    and the errors left to record as failures.
    """
    gone: list[str] = []
    kept: list[SourceAssetError] = []
    for error in errors:
        if error.field == "id" and error.asset_id is not None and error.asset_id in deleted:
            gone.append(error.asset_id)
        else:
            kept.append(error)
    return gone, kept


async def consume_inbox(
    source: JobSource,
    processor: BatchProcessor,
    store: InboxConsumerStore,
    options: InboxOptions,
    *,
    holder: str,
    lease_ttl: float,
    batch_size: int,
    observer: EventObserver | None = None,
    clock: Callable[[], datetime] = utc_now,
    dead_holder: Callable[[str], bool] | None = dead_local_holder,
) -> ConsumeReport:
    """
    Consume one group of the pending inbox rows of ``processor``'s source.

    Args:
        source: The DAM, read by id.
        processor: The source's batch writer (mapping, policy, brake, failures).
        store: The state store (the lease and the inbox).
        options: Claim size and duration, backoff, dead-lettering.
        holder: This process's lease holder name; it claims the rows too.
        lease_ttl: Seconds the source's lease is taken for.
        batch_size: Assets per PIM bulk request.
        observer: Told the event-to-PIM latencies of the finished rows.
        clock: Aware-UTC clock of claims, backoff and latencies (tests move it).
        dead_holder: Judges a lease holder dead (see :func:`~daemon.engine.leasing.leased`).

    Returns:
        What was claimed, written, failed, deleted or released. Never raises for a failure
        of the DAM, the PIM or the store: one log line, and the rows wait for their retry.
    """
    name = processor.source
    report = ConsumeReport(source=name)
    with logs.bind_job(name, logs.new_run_id(), pim=processor.withdrawer.pim_name):
        try:
            depth = (await asyncio.to_thread(store.inbox_depth)).get(name)
            if depth is None or not depth.pending:
                return report  # idle: no lease taken, no claim written
            async with leased(store, name, holder, lease_ttl, dead_holder) as lease:
                if lease is None:
                    # Another holder's lease, or a pass (or retry) of this process under it
                    # (``leased`` never joins it): the rows stay pending for the next consume.
                    report.lease_busy = True
                    log.info("sync.lease_busy", source=name, job="inbox")
                    return report
                await _consume_claimed(
                    source, processor, store, options, lease, batch_size, clock, report
                )
        except Exception as exc:  # the lease or the claim: the store is away; rows stay
            report.error = error_text(exc, with_type=True)
            log.error("sync.inbox_consume_failed", source=name, released=0, error=report.error)
            return report
    if observer is not None and report.received:
        observer.events_consumed(name, report.latencies(), report)
    return report


async def _consume_claimed(
    source: JobSource,
    processor: BatchProcessor,
    store: InboxConsumerStore,
    options: InboxOptions,
    lease: Lease,
    batch_size: int,
    clock: Callable[[], datetime],
    report: ConsumeReport,
) -> None:
    """Claim, fetch, write and settle one group of rows, holding ``lease``."""
    claim = functools.partial(
        store.claim_events,
        report.source,
        lease.holder,
        limit=options.claim_batch,
        claim_seconds=options.claim_seconds,
        now=clock(),
    )
    entries = await asyncio.to_thread(claim)
    report.claimed = len(entries)
    if not entries:
        return
    ids = [e.id for e in entries]
    settled = False
    try:
        await _write(source, processor, entries, lease, batch_size, report)
        await asyncio.to_thread(store.finish_events, ids, lease.holder)
        settled = True
        report.received = [e.received_at for e in entries]
        report.finished_at = clock()
        log.info(
            "sync.inbox_consumed",
            claimed=report.claimed,
            assets=report.assets,
            written=report.written,
            unchanged=report.unchanged,
            failed=report.failed,
            deleted=report.deleted,
            gone=report.gone,
        )
    except Exception as exc:
        settled = True
        report.error = error_text(exc, with_type=True)
        report.released = await _release(store, entries, lease.holder, options, clock(), report)
        log.error(
            "sync.inbox_consume_failed",
            source=report.source,
            released=report.released,
            error=report.error,
        )
    finally:
        if not settled:  # cancelled (shutdown): the rows go back now, not at their claim's end
            await _unclaim(store, ids, lease.holder, report.source)


async def _write(
    source: JobSource,
    processor: BatchProcessor,
    entries: Sequence[InboxEntry],
    lease: Lease,
    batch_size: int,
    report: ConsumeReport,
) -> None:
    """Fetch the current state of the rows' assets and write it like a pass would."""
    hints = collapse(entries)
    report.assets = len(hints)
    page = await source.fetch([h.dam_id for h in hints])
    gone, errors = split_gone(page.errors, {h.dam_id for h in hints if h.deleted})
    if page.assets or errors:
        written = await write_routed(
            processor, list(page.assets), errors, lease, batch_size=batch_size
        )
        report.written += written.written
        report.unchanged += written.unchanged
        report.skipped += written.skipped
        report.failed += written.failed
        report.deleted += written.deleted
    if gone:
        now = await source.server_now()
        report.gone = await delete_gone(gone, now, processor, lease, batch_size=batch_size)


async def _release(
    store: InboxStore,
    entries: Sequence[InboxEntry],
    holder: str,
    options: InboxOptions,
    now: datetime,
    report: ConsumeReport,
) -> int:
    """Put the rows back with their backoff (dead at ``max_attempts``); how many were."""
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for entry in entries:
        by_attempts[entry.attempts].append(entry.id)
    released = 0
    for attempts, ids in sorted(by_attempts.items()):
        retry_at = now + timedelta(seconds=options.retry_delay(attempts))
        release = functools.partial(
            store.release_events,
            ids,
            holder,
            error=report.error or "",
            retry_at=retry_at,
            max_attempts=options.max_attempts,
        )
        try:
            released += await asyncio.shield(asyncio.to_thread(release))
        except Exception as exc:  # the store is away: the claims expire, the rows come back
            log.error("sync.inbox_not_released", source=report.source, error=error_text(exc))
            break
    return released


async def _unclaim(store: InboxStore, ids: Sequence[int], holder: str, source: str) -> None:
    """Give claimed rows back without counting an attempt (the consume never ran its course)."""
    try:
        await asyncio.shield(asyncio.to_thread(store.unclaim_events, ids, holder))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the claims expire, the rows come back
        log.error("sync.inbox_not_released", source=source, error=error_text(exc))


async def prune_inbox(store: InboxStore, retention: float, now: datetime | None = None) -> int:
    """Remove the inbox rows finished more than ``retention`` seconds ago; how many were."""
    before = (now or utc_now()) - timedelta(seconds=retention)
    return await asyncio.to_thread(store.prune_events, before)


__all__ = [
    "AssetHints",
    "ConsumeReport",
    "InboxOptions",
    "collapse",
    "consume_inbox",
    "prune_inbox",
    "split_gone",
    "utc_now",
]
