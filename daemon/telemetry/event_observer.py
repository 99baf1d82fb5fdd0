"""
Event intake and inbox metrics: what webhooks and brokers brought, what was refused, how deep the
inbox is and how long an event took to reach the PIM.

A mixin like :class:`~daemon.telemetry.sync_observer.SyncObserver`: the metrics are created by
:class:`~daemon.telemetry.metrics.Metrics` and only declared here. It implements the intake's
``IntakeObserver`` seam (``daemon.intake.ports``) and the consumer's observer.

Labels stay bounded: a webhook's source comes from the request path, so a source that is not
configured is counted as ``unknown``, never under the name an attacker sent; a reason outside
:data:`REJECT_REASONS` becomes ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from daemon.telemetry.labels import _LabelCap

#: Why a webhook or a broker message was refused (the ``reason`` label of
#: ``damsync_events_rejected_total``).
REJECT_REASONS = frozenset(
    {
        "signature",
        "timestamp",
        "too_large",
        "unparsable",
        "unknown_source",
        "method",
        "store_unavailable",
        "certificate",
        "topic",
    }
)

#: Where events come in (the ``origin`` label).
ORIGINS = ("webhook", "rabbitmq", "nats")

#: Event-to-PIM latency: from well under a second (webhook on loopback) to minutes (backoff).
EVENT_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 1800)


class ConsumeFacts(Protocol):
    """What the metrics read from one consume of the inbox (``daemon.engine`` reports it)."""

    @property
    def written(self) -> int: ...

    @property
    def unchanged(self) -> int: ...

    @property
    def deleted(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def released(self) -> int: ...

    @property
    def gone(self) -> int: ...


class EventObserver:
    """Webhook, broker and inbox metrics (a mixin of :class:`~daemon.telemetry.metrics.Metrics`)."""

    intake_received: Counter
    intake_rejected: Counter
    intake_duplicates: Counter
    consumed_events: Counter
    event_latency: Histogram
    inbox_pending: Gauge
    inbox_oldest_age: Gauge
    inbox_dead: Gauge
    broker_connected: Gauge
    assets_written: Counter
    assets_unchanged: Counter
    assets_failed: Counter
    assets_deleted: Counter
    _sources: _LabelCap
    _event_sources: set[str]

    def _event_src(self, source: str) -> str:
        return self._sources(source) if source in self._event_sources else "unknown"

    def register_event_source(self, source: str, origins: Iterable[str]) -> None:
        """Create the per-source event series at 0 for each origin the source is fed by."""
        self._event_sources.add(source)
        s = self._sources(source)
        for origin in origins:
            self.intake_received.labels(s, origin)
            self.intake_duplicates.labels(s, origin)
            if origin != "webhook":
                self.broker_connected.labels(s, origin)
        for outcome in ("written", "deleted", "failed", "retried"):
            self.consumed_events.labels(s, outcome)
        self.event_latency.labels(s)
        for gauge in (self.inbox_pending, self.inbox_oldest_age, self.inbox_dead):
            gauge.labels(s).set(0)

    # -- intake (daemon.intake.ports.IntakeObserver) ------------------------------------------

    def events_received(self, source: str, origin: str, count: int) -> None:
        if count:
            self.intake_received.labels(self._event_src(source), origin).inc(count)

    def events_deduplicated(self, source: str, origin: str, count: int) -> None:
        if count:
            self.intake_duplicates.labels(self._event_src(source), origin).inc(count)

    def event_rejected(self, source: str, origin: str, reason: str) -> None:
        label = reason if reason in REJECT_REASONS else "other"
        self.intake_rejected.labels(self._event_src(source), origin, label).inc()

    def set_broker_connected(self, source: str, origin: str, connected: bool) -> None:
        self.broker_connected.labels(self._event_src(source), origin).set(1 if connected else 0)

    # -- inbox and consumer ---------------------------------------------------------------------

    def set_inbox_depth(self, depth: Mapping[str, tuple[int, float | None, int]]) -> None:
        """
        ``{source: (pending, oldest pending age in seconds or None, dead)}`` for every source
        fed by events; a source missing from ``depth`` has an empty inbox.
        """
        for source in self._event_sources:
            pending, age, dead = depth.get(source, (0, None, 0))
            s = self._sources(source)
            self.inbox_pending.labels(s).set(pending)
            self.inbox_oldest_age.labels(s).set(age or 0.0)
            self.inbox_dead.labels(s).set(dead)

    def events_consumed(
        self, source: str, latencies: Sequence[float], report: ConsumeFacts
    ) -> None:
        """
        One consume of the inbox finished: the event-to-PIM latency of each finished row, and
        the assets by outcome (``retried``: rows released for a later attempt).
        """
        s = self._event_src(source)
        histogram = self.event_latency.labels(s)
        for latency in latencies:
            histogram.observe(max(0.0, latency))
        deleted = report.deleted + report.gone
        outcomes = {
            "written": report.written + report.unchanged,
            "deleted": deleted,
            "failed": report.failed,
            "retried": report.released,
        }
        for outcome, count in outcomes.items():
            if count:
                self.consumed_events.labels(s, outcome).inc(count)
        # The asset totals count every write, whichever job made it (a pass or the consumer).
        if s != "unknown":
            for counter, count in (
                (self.assets_written, report.written),
                (self.assets_unchanged, report.unchanged),
                (self.assets_failed, report.failed),
                (self.assets_deleted, deleted),
            ):
                if count:
                    counter.labels(s).inc(count)


__all__ = ["EVENT_LATENCY_BUCKETS", "ConsumeFacts", "ORIGINS", "REJECT_REASONS", "EventObserver"]
