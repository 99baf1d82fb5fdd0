"""Event intake and inbox metrics: names, labels, bounded label values."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from daemon.intake.ports import IntakeObserver
from daemon.telemetry.metrics import Metrics, make_metrics


@dataclass(frozen=True)
class Consumed:
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    released: int = 0
    gone: int = 0


def _metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return make_metrics(registry), registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_registered_event_source_exports_zero_series_for_each_origin() -> None:
    metrics, registry = _metrics()
    metrics.register_event_source("bynder", ("webhook", "rabbitmq"))
    for origin in ("webhook", "rabbitmq"):
        assert value(registry, "damsync_events_received_total", source="bynder", origin=origin) == 0
        assert (
            value(registry, "damsync_events_deduplicated_total", source="bynder", origin=origin)
            == 0
        )
    assert value(registry, "damsync_broker_connected", source="bynder", origin="rabbitmq") == 0
    assert value(registry, "damsync_inbox_pending", source="bynder") == 0
    assert value(registry, "damsync_event_to_pim_seconds_count", source="bynder") == 0


def test_intake_counts_by_source_and_origin() -> None:
    metrics, registry = _metrics()
    metrics.register_event_source("bynder", ("webhook",))
    observer: IntakeObserver = metrics  # the intake's seam
    observer.events_received("bynder", "webhook", 3)
    observer.events_deduplicated("bynder", "webhook", 2)
    observer.event_rejected("bynder", "webhook", "signature")
    assert value(registry, "damsync_events_received_total", source="bynder", origin="webhook") == 3
    assert (
        value(registry, "damsync_events_deduplicated_total", source="bynder", origin="webhook") == 2
    )
    labels = {"source": "bynder", "origin": "webhook", "reason": "signature"}
    assert value(registry, "damsync_events_rejected_total", **labels) == 1


def test_an_unconfigured_source_and_a_free_reason_never_become_label_values() -> None:
    metrics, registry = _metrics()
    metrics.register_event_source("bynder", ("webhook",))
    # The source of a webhook comes from its URL path: whatever a client sends.
    metrics.event_rejected("../../etc/passwd", "webhook", "unknown_source")
    metrics.event_rejected("bynder", "webhook", "made up by a client")
    unknown = {"source": "unknown", "origin": "webhook", "reason": "unknown_source"}
    assert value(registry, "damsync_events_rejected_total", **unknown) == 1
    other = {"source": "bynder", "origin": "webhook", "reason": "other"}
    assert value(registry, "damsync_events_rejected_total", **other) == 1
    rendered = [s.labels for m in registry.collect() for s in m.samples]
    assert not any("passwd" in v for labels in rendered for v in labels.values())


def test_inbox_depth_and_latency() -> None:
    metrics, registry = _metrics()
    metrics.register_event_source("bynder", ("webhook",))
    metrics.register_event_source("cloudinary", ("nats",))
    metrics.set_inbox_depth({"bynder": (7, 12.5, 1)})
    assert value(registry, "damsync_inbox_pending", source="bynder") == 7
    assert value(registry, "damsync_inbox_oldest_pending_age_seconds", source="bynder") == 12.5
    assert value(registry, "damsync_inbox_dead", source="bynder") == 1
    # A source with nothing pending is reported empty, not left at its last value.
    metrics.set_inbox_depth({"cloudinary": (1, 0.5, 0)})
    assert value(registry, "damsync_inbox_pending", source="bynder") == 0
    assert value(registry, "damsync_inbox_oldest_pending_age_seconds", source="bynder") == 0
    metrics.events_consumed("bynder", [0.2, 1.7], Consumed(written=1, unchanged=1))
    assert value(registry, "damsync_event_to_pim_seconds_count", source="bynder") == 2
    assert value(registry, "damsync_event_to_pim_seconds_bucket", source="bynder", le="0.25") == 1
    assert value(registry, "damsync_events_consumed_total", source="bynder", outcome="written") == 2
    # The consumer's writes count in the asset totals too, like a pass's.
    assert value(registry, "damsync_assets_written_total", source="bynder") == 1
    assert value(registry, "damsync_assets_unchanged_total", source="bynder") == 1
    metrics.events_consumed("bynder", [], Consumed(deleted=1, gone=2))
    assert value(registry, "damsync_assets_deleted_total", source="bynder") == 3
    assert value(registry, "damsync_events_consumed_total", source="bynder", outcome="deleted") == 3
