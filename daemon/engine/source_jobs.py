"""
The jobs of one source: a sync pass, the retry of due failures, and the reconcile sweep.

Each job that writes holds the source's lease (:func:`~daemon.engine.leasing.leased`) and binds
the source, its PIM and a run id to every log line it makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry

from daemon.core.errors import SyncError
from daemon.engine.batch_writer import BatchProcessor
from daemon.engine.deletions import delete_gone
from daemon.engine.drift import report_drift, scan_drift
from daemon.engine.drift_store import DriftSpill
from daemon.engine.leasing import dead_local_holder, leased
from daemon.engine.outcomes import PassResult, error_text
from daemon.engine.replica_leases import SourceOwnership
from daemon.engine.retries import due_failures, retry_failures
from daemon.engine.seams import JobObserver, JobSource, JobStore, PassObserver, PimReader
from daemon.engine.sync_pass import SyncOptions, run_pass
from daemon.store import Lease, Store
from daemon.store.ownership import DEFAULT_PIM
from daemon.telemetry import logs
from daemon.telemetry.ownership_metrics import ownership_metrics

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SourceJobs:
    """
    One source wired to its engine parts: what the scheduler and ``sync --once`` run.

    Args:
        name: The source's configured name.
        source: The DAM.
        processor: Its batch writer.
        options: Its engine options.
        store: The state store.
        metrics: Where passes, batches and the failure backlog are reported.
        retry_batch: Due failures tried per retry job.
        holder: This process's lease holder name.
        pim: The PIM, as the reconcile reads it.
        observer: Replaces ``metrics`` as the pass observer (the CLI's progress bar).
        pim_name: The configured name of the PIM it writes to (bound to its log lines).
    """

    name: str
    source: JobSource
    processor: BatchProcessor
    options: SyncOptions
    store: JobStore
    metrics: JobObserver
    retry_batch: int
    holder: str
    pim: PimReader
    last_result: PassResult | None = None
    observer: PassObserver | None = None
    pim_name: str = DEFAULT_PIM

    async def run_once(self, stop: asyncio.Event | None = None) -> PassResult:
        """One pass of this source."""
        with logs.bind_job(self.name, logs.new_run_id(), pim=self.pim_name):
            result = await run_pass(
                self.source,
                self.processor,
                self.store,
                self.options,
                holder=self.holder,
                observer=self.observer or self.metrics,
                stop=stop,
                dead_holder=dead_local_holder,
            )
            await self.refresh_backlog()
        self.last_result = result
        return result

    async def retry_due(self, stop: asyncio.Event | None = None) -> int:
        """Try the due failures of this source again; returns how many were tried."""
        due = await due_failures(self.store, self.name, self.retry_batch)
        if not due or (stop is not None and stop.is_set()):
            return 0
        with logs.bind_job(self.name, logs.new_run_id(), pim=self.pim_name):
            async with self._lease() as lease:
                if lease is None:
                    log.info("sync.lease_busy", source=self.name, job="retry", due=len(due))
                    return 0
                await retry_failures(
                    due, self.source, self.processor, lease, batch_size=self.options.batch_size
                )
            await self.refresh_backlog()
        return len(due)

    async def reconcile(self, stop: asyncio.Event | None = None) -> int:
        """
        Find this source's drift (rule 9: hard deletes, edits that never reach the change feed)
        and report it as metrics; then send the assets gone from the DAM as tombstones, so
        ``delete_policy`` and the one deletion brake apply (a burst waits in the pending table
        for ``damsync deletions``). The other kinds are repaired by ``damsync reconcile --fix``.

        Returns:
            How many assets were found deleted.
        """
        with logs.bind_job(self.name, logs.new_run_id(), pim=self.pim_name), DriftSpill() as spill:
            try:
                mapper = await self.processor.mappers.get()
                summary = await scan_drift(self.source, self.pim, self.store, mapper, spill)
            except SyncError as exc:
                # The sweep deletes nothing it could not see: one line, and the next sweep
                # tries again.
                log.error("sync.reconcile_failed", source=self.name, error=error_text(exc))
                return 0
            report_drift(self.metrics, summary)
            gone, known = summary.count("deleted"), summary.known
            if not gone or (stop is not None and stop.is_set()):
                log.info("sync.reconciled", known=known, drift=summary.total, deleted=0)
                return 0
            now = await self.source.server_now()
            async with self._lease() as lease:
                if lease is None:
                    log.info("sync.lease_busy", source=self.name, job="reconcile", gone=gone)
                    return 0
                size = self.options.batch_size
                for ids in spill.chunks(("deleted",), size):
                    await delete_gone(ids, now, self.processor, lease, batch_size=size)
            log.info("sync.reconciled", known=known, drift=summary.total, deleted=gone)
            await self.refresh_backlog()
        return gone

    async def refresh_backlog(self) -> None:
        """Report this source's pending failures and dead letters."""
        counts = await asyncio.to_thread(self.store.failure_counts)
        mine = counts.get(self.name)
        self.metrics.set_backlog(
            self.name,
            pending=mine.pending if mine else 0,
            dead_letters=mine.dead if mine else 0,
        )
        held = await asyncio.to_thread(self.processor.store.pending_deletions, self.name)
        self.metrics.set_pending_deletions(self.name, len(held))

    def _lease(self) -> AbstractAsyncContextManager[Lease | None]:
        return leased(self.store, self.name, self.holder, self.options.lease_ttl)


def replica_ownership(
    runners: Sequence[object], *, heartbeat: Callable[[float], float], spread: bool
) -> SourceOwnership | None:
    """
    The heartbeat of the replica running ``runners``: ``None`` unless they are all source jobs
    on a real store (tests' fake runners run without one).

    Args:
        runners: The application's runners.
        heartbeat: Seconds between heartbeats for a lease of the given lifetime.
        spread: Share the sources out over the live replicas (a shared database only).
    """
    jobs = [r for r in runners if isinstance(r, SourceJobs)]
    if not jobs or len(jobs) != len(runners) or not isinstance(jobs[0].store, Store):
        return None
    first, ttl = jobs[0], jobs[0].options.lease_ttl
    registry = getattr(first.metrics, "registry", None)
    return SourceOwnership(
        jobs[0].store,
        [r.name for r in jobs],
        first.holder,
        ttl=ttl,
        heartbeat=heartbeat(ttl),
        spread=spread,
        observer=ownership_metrics(registry) if isinstance(registry, CollectorRegistry) else None,
    )


__all__ = ["SourceJobs", "replica_ownership"]
