"""
:class:`SyncObserver`: how the sync engine, the scheduler and the structure cache feed metrics.

It is the engine's ``PassObserver`` and ``BacklogObserver`` side of
:class:`~daemon.telemetry.metrics.Metrics`, which defines the metrics it updates. The engine's
batch report and pass result are read through the small protocols here, so that telemetry
needs nothing from the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from daemon.core.records import require_utc
from daemon.telemetry.labels import _LabelCap


class BatchFacts(Protocol):
    """What :meth:`Metrics.batch_done` reads from the engine's batch report."""

    @property
    def size(self) -> int: ...


class CursorFacts(Protocol):
    @property
    def updated_at(self) -> datetime: ...


class PassFacts(Protocol):
    """What :meth:`Metrics.pass_done` reads from the engine's pass result."""

    @property
    def source(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def cursor(self) -> CursorFacts | None: ...

    def counts(self) -> dict[str, int]: ...


#: Pass statuses that count as a success (per-asset failures do not fail a pass).
OK_STATUSES = frozenset({"succeeded", "partial"})


#: Pass statuses that are not a pass at all: another holder had the lease, or shutdown came first.
NOT_A_PASS = frozenset({"skipped", "stopped"})


def _timestamp(when: datetime, what: str) -> float:
    return require_utc(when, what).timestamp()


class SyncObserver:
    """
    Per-source pass, asset, batch, backlog and scheduler metrics, and the structure cache's.

    A mixin: the metrics below are created by :class:`~daemon.telemetry.metrics.Metrics`, and
    only declared here so that the methods are type-checked against them.
    """

    passes: Counter
    pass_failures: Counter
    pass_duration: Histogram
    last_success: Gauge
    checkpoint: Gauge
    interval: Gauge
    assets_read: Counter
    assets_written: Counter
    assets_unchanged: Counter
    assets_failed: Counter
    assets_deleted: Counter
    assets_skipped: Counter
    failures_pending: Gauge
    dead_letters: Gauge
    deletions_pending: Gauge
    batch_size: Histogram
    batch_duration: Histogram
    cache_hits: Counter
    cache_misses: Counter
    scheduler_missed: Counter
    scheduler_skipped: Counter
    reconcile_drift: Gauge
    reconcile_last_run: Gauge
    _sources: _LabelCap
    _families: _LabelCap
    _drift_series: dict[str, set[tuple[str, str]]]

    def _src(self, source: str) -> str:
        return self._sources(source)

    # -- registration: export 0 for series known to exist -----------------------------------

    def register_source(self, source: str, *, interval_seconds: float | None = None) -> None:
        """
        Create every per-source series at 0, so that rates and alerts see them from the start.

        Args:
            source: The configured source name.
            interval_seconds: Its polling interval, exported for the staleness alert.
        """
        s = self._src(source)
        for counter in (
            self.passes,
            self.pass_failures,
            self.assets_read,
            self.assets_written,
            self.assets_unchanged,
            self.assets_failed,
            self.assets_deleted,
            self.assets_skipped,
            self.scheduler_missed,
            self.scheduler_skipped,
        ):
            counter.labels(s)
        for gauge in (
            self.last_success,
            self.checkpoint,
            self.failures_pending,
            self.dead_letters,
            self.reconcile_last_run,
        ):
            gauge.labels(s)
        for histogram in (self.pass_duration, self.batch_size, self.batch_duration):
            histogram.labels(s)
        if interval_seconds is not None:
            self.interval.labels(s).set(interval_seconds)

    # -- sync engine --------------------------------------------------------------------------

    def seed_from_store(
        self, source: str, *, last_success: datetime | None, checkpoint: datetime | None
    ) -> None:
        """
        Set the timestamps from the database at start, so a restart is not "never succeeded".

        Args:
            source: The source name.
            last_success: When its last successful pass finished, if ever.
            checkpoint: The ``updated_at`` of its stored checkpoint, if any.
        """
        s = self._src(source)
        if last_success is not None:
            self.last_success.labels(s).set(_timestamp(last_success, "last_success"))
        if checkpoint is not None:
            self.checkpoint.labels(s).set(_timestamp(checkpoint, "checkpoint"))

    def pass_finished(
        self, source: str, *, ok: bool, duration: float, finished_at: datetime
    ) -> None:
        """
        Record one pass.

        Args:
            source: The source name.
            ok: Whether the pass succeeded (per-asset failures do not make a pass fail).
            duration: Seconds the pass took.
            finished_at: When it finished (aware); becomes the last success when ``ok``.
        """
        s = self._src(source)
        self.passes.labels(s).inc()
        self.pass_duration.labels(s).observe(duration)
        if ok:
            self.last_success.labels(s).set(_timestamp(finished_at, "finished_at"))
        else:
            self.pass_failures.labels(s).inc()

    def checkpoint_advanced(self, source: str, updated_at: datetime) -> None:
        """The stored checkpoint of ``source`` now stands at ``updated_at``."""
        self.checkpoint.labels(self._src(source)).set(_timestamp(updated_at, "updated_at"))

    def batch_finished(self, source: str, *, size: int, duration: float) -> None:
        """One batch of ``size`` assets took ``duration`` seconds."""
        s = self._src(source)
        self.batch_size.labels(s).observe(size)
        self.batch_duration.labels(s).observe(duration)

    def count_assets(
        self,
        source: str,
        *,
        read: int = 0,
        written: int = 0,
        unchanged: int = 0,
        failed: int = 0,
        skipped: int = 0,
        deleted: int = 0,
    ) -> None:
        """Add asset outcomes."""
        s = self._src(source)
        for counter, amount in (
            (self.assets_read, read),
            (self.assets_written, written),
            (self.assets_unchanged, unchanged),
            (self.assets_failed, failed),
            (self.assets_skipped, skipped),
            (self.assets_deleted, deleted),
        ):
            if amount:
                counter.labels(s).inc(amount)

    def set_backlog(self, source: str, *, pending: int, dead_letters: int) -> None:
        """Current number of failures waiting for a retry, and of dead letters."""
        s = self._src(source)
        self.failures_pending.labels(s).set(pending)
        self.dead_letters.labels(s).set(dead_letters)

    def set_pending_deletions(self, source: str, count: int) -> None:
        """Current number of withdrawals the deletion brake holds for an operator."""
        self.deletions_pending.labels(self._src(source)).set(count)

    def reconcile_finished(
        self, source: str, drift: Mapping[tuple[str, str], int], *, finished_at: datetime
    ) -> None:
        """
        A reconcile of ``source`` ended: drifted assets by ``(family, kind)``, and when.

        A family and kind the previous reconcile reported but this one does not go back to 0,
        so a repaired drift never lingers in the gauge.
        """
        s = self._src(source)
        counts: dict[tuple[str, str], int] = {}
        for (family, kind), n in drift.items():
            key = (self._families(family), kind)
            counts[key] = counts.get(key, 0) + n
        for key in self._drift_series.get(s, set()) - counts.keys():
            self.reconcile_drift.labels(s, *key).set(0)
        for key, n in counts.items():
            self.reconcile_drift.labels(s, *key).set(n)
        self._drift_series[s] = set(counts)
        self.reconcile_last_run.labels(s).set(_timestamp(finished_at, "finished_at"))

    # -- the engine's PassObserver ----------------------------------------------------------

    def batch_done(self, source: str, report: BatchFacts, duration: float) -> None:
        """
        One batch was committed: observe its size and duration.

        Asset counts come from :meth:`pass_done`'s totals, so that an asset that failed
        outside any batch (unreadable in the page) is counted too, and nothing twice.
        """
        self.batch_finished(source, size=report.size, duration=duration)

    def pass_done(self, result: PassFacts) -> None:
        """
        A pass ended: count its assets, and count it as a pass unless it was skipped or stopped.

        Args:
            result: The engine's pass result.
        """
        counts = result.counts()
        self.count_assets(
            result.source,
            read=counts.get("read", 0),
            written=counts.get("written", 0),
            unchanged=counts.get("unchanged", 0),
            failed=counts.get("failed", 0),
            skipped=counts.get("skipped", 0),
            deleted=counts.get("deleted", 0),
        )
        if result.cursor is not None:
            self.checkpoint_advanced(result.source, result.cursor.updated_at)
        if result.status in NOT_A_PASS:
            return
        self.pass_finished(
            result.source,
            ok=result.status in OK_STATUSES,
            duration=result.duration,
            finished_at=datetime.now(UTC),
        )

    # -- structure cache and scheduler --------------------------------------------------------

    def structure_cache(self, *, hit: bool) -> None:
        """An asset-family structure lookup was served from the cache (``hit``) or fetched."""
        (self.cache_hits if hit else self.cache_misses).inc()

    def run_missed(self, source: str) -> None:
        """The scheduler missed a run of ``source`` (APScheduler ``EVENT_JOB_MISSED``)."""
        self.scheduler_missed.labels(self._src(source)).inc()

    def run_skipped(self, source: str) -> None:
        """A run of ``source`` would have overlapped (``EVENT_JOB_MAX_INSTANCES``)."""
        self.scheduler_skipped.labels(self._src(source)).inc()


__all__ = ["NOT_A_PASS", "OK_STATUSES", "BatchFacts", "CursorFacts", "PassFacts", "SyncObserver"]
