"""
Every Prometheus metric damsync exports, built once per registry by :func:`make_metrics`.

Names follow the Prometheus conventions (``damsync_`` prefix, base units, ``_total`` counters, a
separate failure counter next to each total). Labels are bounded: ``source``, ``pim`` and
``upstream`` come from the configuration, ``endpoint`` is an endpoint *template* chosen in code,
``code`` is a status class, ``family`` is capped by Akeneo's 100-family limit. As a last line of
defence against a caller passing a raw URL or an asset id, every free-text label is normalised
and capped: past :data:`MAX_LABEL_VALUES` distinct values a label becomes ``"other"`` and one
warning is logged.

:class:`Metrics` implements :class:`daemon.upstream.policy.RequestObserver`, so it can be
handed to every :class:`daemon.upstream.session.Upstream` as its observer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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
from daemon.telemetry.event_observer import EVENT_LATENCY_BUCKETS, EventObserver
from daemon.telemetry.http_observer import HttpObserver
from daemon.telemetry.labels import _ENDPOINT, _SOURCE, _LabelCap

# The engine-facing protocols and pass statuses live with the methods that read them; the
# redundant aliases keep them importable from here, where callers have always found them.
from daemon.telemetry.sync_observer import NOT_A_PASS as NOT_A_PASS
from daemon.telemetry.sync_observer import OK_STATUSES as OK_STATUSES
from daemon.telemetry.sync_observer import BatchFacts as BatchFacts
from daemon.telemetry.sync_observer import CursorFacts as CursorFacts
from daemon.telemetry.sync_observer import PassFacts as PassFacts
from daemon.telemetry.sync_observer import SyncObserver

#: Pass durations range from milliseconds (nothing changed) to minutes (a large backfill page).
PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


#: A bulk PATCH of 100 assets or a binary upload may take a minute; a GET takes milliseconds.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


#: Assets per batch; Akeneo accepts at most 100 per PATCH, a DAM page may be larger.
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


class Metrics(SyncObserver, HttpObserver, EventObserver):
    """
    The daemon's metrics on one registry; also the HTTP :class:`RequestObserver`.

    Build it with :func:`make_metrics`. Methods take plain values so that the sync engine, the
    scheduler and the HTTP layer never touch ``prometheus_client`` themselves. This class
    defines every metric; the methods that update them come from :class:`SyncObserver` (the
    engine, the scheduler, the structure cache) and :class:`HttpObserver` (HTTP attempts).

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
        self.deletions_pending = gauge(
            "damsync_deletions_pending",
            "Withdrawals the mass-deletion brake holds for `damsync deletions approve|reject`.",
            src,
        )
        self.product_links_patched = counter(
            "damsync_product_links_written",
            "Products and product models whose asset collections damsync PATCHed (direct links).",
            src,
        )
        self.product_link_failures = counter(
            "damsync_product_link_failures",
            "Assets whose direct product links failed (recorded as failures, stage links).",
            src,
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
        self.reconcile_drift = gauge(
            "damsync_reconcile_drift_assets",
            "Assets the last reconcile found drifted: missing, stale, orphaned, deleted.",
            (*src, "family", "kind"),
        )
        self.reconcile_last_run = gauge(
            "damsync_reconcile_last_run_timestamp_seconds",
            "Unix time the last reconcile of the source finished (0: none since start).",
            src,
        )
        self.intake_received = counter(
            "damsync_events_received",
            "Events stored in the inbox (new ones), by origin: webhook, rabbitmq, nats.",
            (*src, "origin"),
        )
        self.intake_duplicates = counter(
            "damsync_events_deduplicated",
            "Events already in the inbox (redeliveries, replays): acknowledged, not stored again.",
            (*src, "origin"),
        )
        self.intake_rejected = counter(
            "damsync_events_rejected",
            "Webhooks and broker messages refused (bad signature, stale, too large, unparsable).",
            (*src, "origin", "reason"),
        )
        self.consumed_events = counter(
            "damsync_events_consumed",
            "Assets named by events, settled by the consumer: written, deleted, failed (kept as "
            "failures) or retried (the consume failed; the rows wait for their backoff).",
            (*src, "outcome"),
        )
        self.event_latency = histogram(
            "damsync_event_to_pim_seconds",
            "From an event's arrival to its asset written to the PIM.",
            src,
            EVENT_LATENCY_BUCKETS,
        )
        self.inbox_pending = gauge("damsync_inbox_pending", "Inbox rows not yet processed.", src)
        self.inbox_oldest_age = gauge(
            "damsync_inbox_oldest_pending_age_seconds",
            "Age of the oldest unprocessed inbox row (0: none).",
            src,
        )
        self.inbox_dead = gauge(
            "damsync_inbox_dead", "Inbox rows given up after max_attempts consumes.", src
        )
        self.broker_connected = gauge(
            "damsync_broker_connected",
            "1 while the broker consumer is connected.",
            (*src, "origin"),
        )
        self.source_pim = gauge(
            "damsync_source_pim_info",
            "Always 1: the PIM each source writes to (join per-source series on source).",
            (*src, "pim"),
        )
        self.pim_in_flight = gauge(
            "damsync_pim_requests_in_flight",
            "Requests to the PIM in flight now, every source writing to it together.",
            ("pim",),
        )
        self.pim_in_flight_limit = gauge(
            "damsync_pim_requests_in_flight_limit",
            "This replica's share of the PIM's fair-use budget: requests in flight at most "
            "(pim.http.max_in_flight, shared by the replicas writing to it).",
            ("pim",),
        )
        self.build_info = gauge("damsync_build_info", "Always 1; version label.", ("version",))
        self.build_info.labels(version).set(1)

        self._sources = _LabelCap("source")
        self._families = _LabelCap("family")
        self._event_sources: set[str] = set()
        self._drift_series: dict[str, set[tuple[str, str]]] = {}
        self._upstreams = _LabelCap("upstream")
        self._endpoints = _LabelCap("endpoint")
        self._pims = _LabelCap("pim")
        self._source_pims: dict[str, str] = {}

    def product_links_written(self, source: str, *, patched: int, failed: int) -> None:
        """Count one recorded product link write (:class:`daemon.engine.seams.LinkObserver`)."""
        s = self._src(source)
        self.product_links_patched.labels(s).inc(patched)
        self.product_link_failures.labels(s).inc(failed)

    def register_pim(
        self, pim: str, *, sources: Iterable[str], limit: int, in_flight: Callable[[], float]
    ) -> None:
        """
        Export one PIM's fair-use budget, its requests in flight and the sources writing to it.

        Called again on a reload: the new client's ``in_flight`` replaces the old one's, and a
        source that now writes to another PIM leaves its old ``damsync_source_pim_info`` series.

        Args:
            pim: The configured PIM name (``default`` for ``[pim]``).
            sources: The names of the sources that write to it.
            limit: Its ``http.max_in_flight``.
            in_flight: Reads its limiter's requests in flight at scrape time.
        """
        name = self._pims(pim)
        self.pim_in_flight_limit.labels(name).set(limit)
        self.pim_in_flight.labels(name).set_function(in_flight)
        for source in sources:
            s = self._src(source)
            before = self._source_pims.get(s)
            if before is not None and before != name:
                self.source_pim.remove(s, before)
            self._source_pims[s] = name
            self.source_pim.labels(s, name).set(1)


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
