"""The ownership metrics: owned sources, lease age at scrape time, losses, live replicas."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from daemon.telemetry.ownership_metrics import OwnershipMetrics, ownership_metrics


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample(registry: CollectorRegistry, name: str, source: str | None = None) -> float | None:
    labels = {} if source is None else {"source": source}
    return registry.get_sample_value(name, labels)


def test_sources_start_unowned_then_ownership_and_lease_age_follow():
    registry, clock = CollectorRegistry(), Clock()
    metrics = OwnershipMetrics(registry, clock=clock)
    metrics.register_sources(["s1", "s2"])
    assert 0 == sample(registry, "damsync_source_owned", "s2")
    assert 0 == sample(registry, "damsync_lease_age_seconds", "s1")
    metrics.source_owned("s1", True)
    metrics.lease_renewed("s1")
    clock.now += 7.5
    assert (1, 7.5) == (
        sample(registry, "damsync_source_owned", "s1"),
        sample(registry, "damsync_lease_age_seconds", "s1"),
    )
    metrics.lease_renewed("s1")
    assert 0 == sample(registry, "damsync_lease_age_seconds", "s1")
    metrics.lease_lost("s1")
    metrics.source_owned("s1", False)
    assert (0, 0, 1) == (
        sample(registry, "damsync_source_owned", "s1"),
        sample(registry, "damsync_lease_age_seconds", "s1"),
        sample(registry, "damsync_lease_losses_total", "s1"),
    )
    metrics.replicas_seen(3)
    assert 3 == sample(registry, "damsync_replicas_live")


def test_built_once_per_registry():
    """A runtime rebuilt on the same registry reuses the metrics (no duplicate registration)."""
    registry = CollectorRegistry()
    assert ownership_metrics(registry) is ownership_metrics(registry)
    assert ownership_metrics(CollectorRegistry()) is not ownership_metrics(registry)
