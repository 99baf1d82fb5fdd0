"""
Every Prometheus metric damsync exports, built once per registry by :func:`make_metrics`.

Names follow the Prometheus conventions (``damsync_`` prefix, base units, ``_total`` counters, a
separate failure counter next to each total). Labels are bounded: ``source`` and ``upstream`` come
from the configuration, ``endpoint`` is an endpoint *template* chosen in code, ``code`` is a status
class, ``family`` is capped by Akeneo's 100-family limit. As a last line of defence against a
caller passing a raw URL or an asset id, every free-text label is normalised and capped: past
:data:`MAX_LABEL_VALUES` distinct values a label becomes ``"other"`` and one warning is logged.

:class:`Metrics` implements :class:`daemon.upstream.policy.RequestObserver`, so it can be
handed to every :class:`daemon.upstream.session.Upstream` as its observer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from daemon import __version__
from daemon.core.records import require_utc
from daemon.telemetry.labels import (
    _ENDPOINT,
    _SOURCE,
    STATUS_CLASSES,
    _LabelCap,
    endpoint_label,
    status_class,
)

#: Pass durations range from milliseconds (nothing changed) to minutes (a large backfill page).
PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


#: A bulk PATCH of 100 assets or a binary upload may take a minute; a GET takes milliseconds.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


#: Assets per batch; Akeneo accepts at most 100 per PATCH, a DAM page may be larger.
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


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


class Metrics:
    """
    The daemon's metrics on one registry; also the HTTP :class:`RequestObserver`.

    Build it with :func:`make_metrics`. Methods take plain values so that the sync engine, the
    scheduler and the HTTP layer never touch ``prometheus_client`` themselves.

    Args:
        registry: Where every metric is registered.
        version: Reported by ``damsync_build_info{version}``.
    """

    def __init__(self, registry: CollectorRegistry, *, version: str = __version__) -> None:
        self.registry = registry
        src, ep, ep2 = _SOURCE, _ENDPOINT, ("upstream", "endpoint")

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]
        ) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=registry)

        # Counters are declared without ``_total``: prometheus_client appends it.
        self.passes = counter("damsync_sync_passes", "Sync passes, failed ones included.", src)
        self.pass_failures = counter(
            "damsync_sync_pass_failures", "Sync passes that ended with an error.", src
        )
        self.pass_duration = histogram(
            "damsync_sync_pass_duration_seconds", "Duration of one pass.", src, PASS_BUCKETS
        )
        self.last_success = gauge(
            "damsync_sync_last_success_timestamp_seconds",
            "Unix time the last successful pass finished (0: none recorded).",
            src,
        )
        self.checkpoint = gauge(
            "damsync_sync_checkpoint_timestamp_seconds",
            "updated_at of the stored checkpoint as Unix time: data freshness.",
            src,
        )
        self.interval = gauge(
            "damsync_sync_interval_seconds", "Configured polling interval of the source.", src
        )
        self.assets_read = counter("damsync_assets_read", "Assets read from the DAM.", src)
        self.assets_written = counter("damsync_assets_written", "Assets the PIM accepted.", src)
        self.assets_unchanged = counter(
            "damsync_assets_unchanged", "Assets not sent: the PIM already has them.", src
        )
        self.assets_failed = counter(
            "damsync_assets_failed", "Assets that failed (mapping, upload or PIM).", src
        )
        self.assets_deleted = counter(
            "damsync_assets_deleted", "Assets removed from the PIM (deleted in the DAM).", src
        )
        self.assets_skipped = counter(
            "damsync_assets_skipped", "Assets deliberately not synced (filter rules).", src
        )
        self.failures_pending = gauge(
            "damsync_failures_pending", "Failed assets waiting for a retry.", src
        )
        self.dead_letters = gauge(
            "damsync_dead_letters", "Assets given up on, waiting for an operator.", src
        )
        self.batch_size = histogram(
            "damsync_batch_size_assets", "Assets per batch.", src, BATCH_SIZE_BUCKETS
        )
        self.batch_duration = histogram(
            "damsync_batch_duration_seconds", "Duration of one batch.", src, PASS_BUCKETS
        )
        self.http_requests = counter(
            "damsync_http_requests", "HTTP attempts by status class.", (*ep, "code")
        )
        self.http_duration = histogram(
            "damsync_http_request_duration_seconds", "One HTTP attempt.", ep, HTTP_BUCKETS
        )
        self.http_retries = counter("damsync_http_retries", "Attempts to be retried.", ep)
        self.http_throttled = counter("damsync_http_throttled", "429 answers.", ep2)
        self.http_sent = counter("damsync_http_bytes_sent", "Request body bytes.", ep2)
        self.http_received = counter("damsync_http_bytes_received", "Response body bytes.", ep2)
        self.cache_hits = counter("damsync_structure_cache_hits", "Structure cache hits.", ())
        self.cache_misses = counter("damsync_structure_cache_misses", "Structure misses.", ())
        self.scheduler_missed = counter(
            "damsync_scheduler_missed_runs", "Runs the scheduler started too late.", src
        )
        self.scheduler_skipped = counter(
            "damsync_scheduler_skipped_runs", "Runs skipped: the last pass still ran.", src
        )
        self.build_info = gauge("damsync_build_info", "Always 1; version label.", ("version",))
        self.build_info.labels(version).set(1)

        self._sources = _LabelCap("source")
        self._upstreams = _LabelCap("upstream")
        self._endpoints = _LabelCap("endpoint")

    # -- label hygiene --------------------------------------------------------------------

    def _src(self, source: str) -> str:
        return self._sources(source)

    def _ep(self, upstream: str, endpoint: str) -> tuple[str, str]:
        return self._upstreams(upstream), self._endpoints(endpoint_label(endpoint))

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
        for gauge in (self.last_success, self.checkpoint, self.failures_pending, self.dead_letters):
            gauge.labels(s)
        for histogram in (self.pass_duration, self.batch_size, self.batch_duration):
            histogram.labels(s)
        if interval_seconds is not None:
            self.interval.labels(s).set(interval_seconds)

    def register_endpoint(self, upstream: str, method: str, endpoint: str) -> None:
        """
        Create the series of one known endpoint at 0 (every status class, retries, bytes).

        Args:
            upstream: ``pim`` or the source name.
            method: HTTP method.
            endpoint: The endpoint template.
        """
        up, ep = self._ep(upstream, endpoint)
        for code in STATUS_CLASSES:
            self.http_requests.labels(up, ep, method, code)
        self.http_duration.labels(up, ep, method)
        self.http_retries.labels(up, ep, method)
        self.http_throttled.labels(up, ep)
        self.http_sent.labels(up, ep)
        self.http_received.labels(up, ep)

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

    # -- RequestObserver ------------------------------------------------------------------

    def request_finished(
        self,
        *,
        upstream: str,
        method: str,
        endpoint: str,
        status: int | None,
        duration: float,
        bytes_sent: int,
        bytes_received: int,
    ) -> None:
        """One attempt ended: ``status`` is ``None`` when no answer came back."""
        up, ep = self._ep(upstream, endpoint)
        self.http_requests.labels(up, ep, method, status_class(status)).inc()
        self.http_duration.labels(up, ep, method).observe(duration)
        if bytes_sent > 0:
            self.http_sent.labels(up, ep).inc(bytes_sent)
        if bytes_received > 0:
            self.http_received.labels(up, ep).inc(bytes_received)

    def request_retried(self, *, upstream: str, method: str, endpoint: str, reason: str) -> None:
        """A failed attempt will be tried again (``reason`` is not a label: it is unbounded)."""
        up, ep = self._ep(upstream, endpoint)
        self.http_retries.labels(up, ep, method).inc()

    def throttled(self, *, upstream: str, endpoint: str, retry_after: float | None) -> None:
        """The upstream answered 429."""
        up, ep = self._ep(upstream, endpoint)
        self.http_throttled.labels(up, ep).inc()

    def bytes_streamed(self, *, upstream: str, endpoint: str, received: int) -> None:
        """A streamed body delivered ``received`` bytes."""
        if received > 0:
            up, ep = self._ep(upstream, endpoint)
            self.http_received.labels(up, ep).inc(received)


def _register_process_collectors(registry: CollectorRegistry) -> None:
    """Add the standard process, platform and GC collectors unless already there."""
    if registry is REGISTRY:
        return  # prometheus_client registered PROCESS/PLATFORM/GC collectors at import
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def make_metrics(
    registry: CollectorRegistry = REGISTRY,
    *,
    version: str = __version__,
    sources: Iterable[tuple[str, float | None]] = (),
) -> Metrics:
    """
    Build every damsync metric once on ``registry``; a second build on it raises ``ValueError``.

    Args:
        registry: Production passes the default ``REGISTRY``; each test a fresh one.
        version: The version for ``damsync_build_info``.
        sources: ``(name, interval_seconds)`` pairs to register at 0 right away.

    Returns:
        The :class:`Metrics` facade.
    """
    metrics = Metrics(registry, version=version)
    _register_process_collectors(registry)
    for name, interval in sources:
        metrics.register_source(name, interval_seconds=interval)
    return metrics


__all__ = [
    "BATCH_SIZE_BUCKETS",
    "BatchFacts",
    "HTTP_BUCKETS",
    "Metrics",
    "PASS_BUCKETS",
    "PassFacts",
    "make_metrics",
]
