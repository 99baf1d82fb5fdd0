"""daemon.telemetry.metrics: names, labels, the RequestObserver mapping and label bounds."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon import __version__
from daemon.core.errors import PimAuthError, PimProtocolError, PimThrottled, PimUnavailable
from daemon.telemetry.labels import MAX_LABEL_VALUES, endpoint_label, status_class
from daemon.telemetry.metrics import Metrics, make_metrics
from daemon.upstream.policy import ErrorKinds, RequestObserver, RequestSpec, RetryPolicy
from daemon.upstream.session import Upstream

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: Every per-source sample that register_source must export at 0 (besides the interval).
SOURCE_ZERO_SAMPLES = [
    "damsync_sync_passes_total",
    "damsync_sync_pass_failures_total",
    "damsync_sync_pass_duration_seconds_count",
    "damsync_sync_last_success_timestamp_seconds",
    "damsync_sync_checkpoint_timestamp_seconds",
    "damsync_assets_read_total",
    "damsync_assets_written_total",
    "damsync_assets_unchanged_total",
    "damsync_assets_failed_total",
    "damsync_assets_skipped_total",
    "damsync_assets_deleted_total",
    "damsync_failures_pending",
    "damsync_dead_letters",
    "damsync_batch_size_assets_count",
    "damsync_batch_duration_seconds_count",
    "damsync_scheduler_missed_runs_total",
    "damsync_scheduler_skipped_runs_total",
]


@pytest.fixture(name="registry")
def _registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture(name="metrics")
def _metrics(registry: CollectorRegistry) -> Metrics:
    return make_metrics(registry, version="1.2.3", sources=[("bynder", 300.0)])


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.mark.parametrize("name", SOURCE_ZERO_SAMPLES)
def test_register_source_exports_zero(registry, metrics, name):
    """A registered source has every per-source series at 0 before anything happened."""
    assert 0.0 == sample(registry, name, source="bynder")


def test_register_source_exports_interval(registry, metrics):
    """The configured interval is exported for the staleness alert."""
    assert 300.0 == sample(registry, "damsync_sync_interval_seconds", source="bynder")


def test_build_info_and_process_collectors(registry, metrics):
    """Build info carries the version and the standard process metrics are registered."""
    assert 1.0 == sample(registry, "damsync_build_info", version="1.2.3")
    rss = sample(registry, "process_resident_memory_bytes")
    assert rss is not None and rss > 0
    assert sample(registry, "python_info", implementation="CPython", **_py_labels()) == 1.0


def _py_labels() -> dict[str, str]:
    major, minor, patch = platform.python_version_tuple()
    return {
        "major": major,
        "minor": minor,
        "patchlevel": patch,
        "version": f"{major}.{minor}.{patch}",
    }


def test_default_version_is_package_version(registry):
    """Without an explicit version, build info reports the package's version."""
    make_metrics(registry)
    assert 1.0 == sample(registry, "damsync_build_info", version=__version__)


def test_second_build_on_same_registry_fails(registry, metrics):
    """Building the metrics twice on one registry raises instead of double counting."""
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        make_metrics(registry)


def test_pass_finished_ok_sets_last_success(registry, metrics):
    """A good pass counts, observes its duration and sets the last-success timestamp."""
    metrics.pass_finished("bynder", ok=True, duration=12.5, finished_at=WHEN)
    assert 1.0 == sample(registry, "damsync_sync_passes_total", source="bynder")
    assert 0.0 == sample(registry, "damsync_sync_pass_failures_total", source="bynder")
    assert 12.5 == sample(registry, "damsync_sync_pass_duration_seconds_sum", source="bynder")
    assert 1.0 == sample(
        registry, "damsync_sync_pass_duration_seconds_bucket", source="bynder", le="30.0"
    )
    assert 0.0 == sample(
        registry, "damsync_sync_pass_duration_seconds_bucket", source="bynder", le="10.0"
    )
    assert WHEN.timestamp() == sample(
        registry, "damsync_sync_last_success_timestamp_seconds", source="bynder"
    )


def test_pass_finished_failed_keeps_last_success(registry, metrics):
    """A failed pass counts as a failure and leaves the last-success timestamp alone."""
    metrics.seed_from_store("bynder", last_success=WHEN, checkpoint=None)
    metrics.pass_finished("bynder", ok=False, duration=1.0, finished_at=WHEN + timedelta(minutes=5))
    assert 1.0 == sample(registry, "damsync_sync_passes_total", source="bynder")
    assert 1.0 == sample(registry, "damsync_sync_pass_failures_total", source="bynder")
    assert WHEN.timestamp() == sample(
        registry, "damsync_sync_last_success_timestamp_seconds", source="bynder"
    )


def test_pass_duration_buckets_reach_ten_minutes(registry, metrics):
    """The pass histogram has buckets up to 600 s, as long passes need."""
    metrics.pass_finished("bynder", ok=True, duration=450.0, finished_at=WHEN)
    assert 0.0 == sample(
        registry, "damsync_sync_pass_duration_seconds_bucket", source="bynder", le="300.0"
    )
    assert 1.0 == sample(
        registry, "damsync_sync_pass_duration_seconds_bucket", source="bynder", le="600.0"
    )


def test_seed_from_store_converts_to_unix_time(registry, metrics):
    """Seeding from the database sets both timestamps, whatever the stored offset."""
    paris = timezone(timedelta(hours=1))
    metrics.seed_from_store(
        "bynder", last_success=WHEN.astimezone(paris), checkpoint=WHEN - timedelta(hours=1)
    )
    assert WHEN.timestamp() == sample(
        registry, "damsync_sync_last_success_timestamp_seconds", source="bynder"
    )
    assert (WHEN - timedelta(hours=1)).timestamp() == sample(
        registry, "damsync_sync_checkpoint_timestamp_seconds", source="bynder"
    )


def test_naive_timestamps_are_refused(metrics):
    """A naive datetime is a programming error, not a silently shifted timestamp."""
    with pytest.raises(ValueError, match="finished_at must be timezone-aware"):
        metrics.pass_finished("bynder", ok=True, duration=1.0, finished_at=datetime(2026, 1, 1))


def test_checkpoint_batch_assets_and_backlog(registry, metrics):
    """Checkpoint, batch, asset and backlog methods land on their series."""
    metrics.checkpoint_advanced("bynder", WHEN)
    metrics.batch_finished("bynder", size=100, duration=2.0)
    metrics.count_assets("bynder", read=120, written=90, unchanged=20, failed=7, skipped=3)
    metrics.set_backlog("bynder", pending=7, dead_letters=2)
    assert WHEN.timestamp() == sample(
        registry, "damsync_sync_checkpoint_timestamp_seconds", source="bynder"
    )
    assert 1.0 == sample(registry, "damsync_batch_size_assets_bucket", source="bynder", le="100.0")
    assert 0.0 == sample(registry, "damsync_batch_size_assets_bucket", source="bynder", le="50.0")
    assert 2.0 == sample(registry, "damsync_batch_duration_seconds_sum", source="bynder")
    expected = {"read": 120, "written": 90, "unchanged": 20, "failed": 7, "skipped": 3}
    actual = {k: sample(registry, f"damsync_assets_{k}_total", source="bynder") for k in expected}
    assert expected == actual
    assert 7.0 == sample(registry, "damsync_failures_pending", source="bynder")
    assert 2.0 == sample(registry, "damsync_dead_letters", source="bynder")


def test_cache_and_scheduler_counters(registry, metrics):
    """Cache hits and misses are counted; missed and skipped runs per source."""
    observer: CacheObserver = metrics
    observer.structure_cache(hit=True)
    observer.structure_cache(hit=True)
    observer.structure_cache(hit=False)
    metrics.run_missed("bynder")
    metrics.run_skipped("bynder")
    metrics.run_skipped("bynder")
    assert 2.0 == sample(registry, "damsync_structure_cache_hits_total")
    assert 1.0 == sample(registry, "damsync_structure_cache_misses_total")
    assert 1.0 == sample(registry, "damsync_scheduler_missed_runs_total", source="bynder")
    assert 2.0 == sample(registry, "damsync_scheduler_skipped_runs_total", source="bynder")


class CacheObserver(Protocol):
    def structure_cache(self, *, hit: bool) -> None: ...


@dataclass
class FakeReport:
    size: int


@dataclass
class FakeCursor:
    updated_at: datetime


@dataclass
class FakeResult:
    source: str
    status: str
    duration: float
    cursor: FakeCursor | None
    totals: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return self.totals


def test_batch_done_observes_size_and_duration(registry, metrics):
    """batch_done observes the batch's size and duration, and counts no assets itself."""
    metrics.batch_done("bynder", FakeReport(size=40), 1.5)
    assert 1.0 == sample(registry, "damsync_batch_size_assets_bucket", source="bynder", le="50.0")
    assert 1.5 == sample(registry, "damsync_batch_duration_seconds_sum", source="bynder")
    assert 0.0 == sample(registry, "damsync_assets_written_total", source="bynder")


def test_pass_done_counts_totals_and_success(registry, metrics):
    """A partial pass is a success: totals counted, checkpoint and last success set."""
    totals = {"read": 10, "written": 6, "unchanged": 1, "failed": 2, "skipped": 1, "deleted": 1}
    metrics.pass_done(FakeResult("bynder", "partial", 3.0, FakeCursor(WHEN), totals))
    expected = {k: float(v) for k, v in totals.items()}
    actual = {k: sample(registry, f"damsync_assets_{k}_total", source="bynder") for k in totals}
    assert expected == actual
    assert 1.0 == sample(registry, "damsync_sync_passes_total", source="bynder")
    assert 0.0 == sample(registry, "damsync_sync_pass_failures_total", source="bynder")
    assert WHEN.timestamp() == sample(
        registry, "damsync_sync_checkpoint_timestamp_seconds", source="bynder"
    )
    last = sample(registry, "damsync_sync_last_success_timestamp_seconds", source="bynder")
    assert last is not None and last > WHEN.timestamp()


def test_pass_done_failed_counts_failure(registry, metrics):
    """A failed pass counts as a pass failure and leaves the last success at 0."""
    metrics.pass_done(FakeResult("bynder", "failed", 1.0, None))
    assert 1.0 == sample(registry, "damsync_sync_pass_failures_total", source="bynder")
    assert 0.0 == sample(registry, "damsync_sync_last_success_timestamp_seconds", source="bynder")


@pytest.mark.parametrize("status", ["skipped", "stopped"])
def test_pass_done_skipped_is_not_a_pass(registry, metrics, status):
    """A skipped or stopped pass still counts its assets but is not counted as a pass."""
    metrics.pass_done(FakeResult("bynder", status, 0.5, None, {"written": 2}))
    assert 0.0 == sample(registry, "damsync_sync_passes_total", source="bynder")
    assert 2.0 == sample(registry, "damsync_assets_written_total", source="bynder")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "2xx"), (204, "2xx"), (304, "3xx"), (404, "4xx"), (429, "4xx"), (503, "5xx"),
     (None, "error"), (99, "error"), (600, "error")],
)  # fmt: skip
def test_status_class(status, expected):
    """HTTP statuses map to the bounded ``code`` label."""
    assert expected == status_class(status)


def test_request_finished_maps_to_series(registry, metrics):
    """One attempt counts by status class, observes duration and adds bytes both ways."""
    observer: RequestObserver = metrics
    ep = "/api/rest/v1/asset-families/{family}/assets"
    observer.request_finished(
        upstream="pim", method="PATCH", endpoint=ep, status=200, duration=0.3,
        bytes_sent=1000, bytes_received=50,
    )  # fmt: skip
    observer.request_finished(
        upstream="pim", method="PATCH", endpoint=ep, status=None, duration=5.0,
        bytes_sent=1000, bytes_received=0,
    )  # fmt: skip
    labels = {"upstream": "pim", "endpoint": ep, "method": "PATCH"}
    assert 1.0 == sample(registry, "damsync_http_requests_total", code="2xx", **labels)
    assert 1.0 == sample(registry, "damsync_http_requests_total", code="error", **labels)
    assert 2.0 == sample(registry, "damsync_http_request_duration_seconds_count", **labels)
    assert 5.3 == sample(registry, "damsync_http_request_duration_seconds_sum", **labels)
    assert 2000.0 == sample(registry, "damsync_http_bytes_sent_total", upstream="pim", endpoint=ep)
    assert 50.0 == sample(
        registry, "damsync_http_bytes_received_total", upstream="pim", endpoint=ep
    )


def test_retries_throttles_and_streams(registry, metrics):
    """Retries, 429s and streamed bytes land on their own counters."""
    metrics.request_retried(upstream="bynder", method="GET", endpoint="/v4/media", reason="x")
    metrics.throttled(upstream="bynder", endpoint="/v4/media", retry_after=3.0)
    metrics.bytes_streamed(upstream="bynder", endpoint="/v4/media", received=4096)
    metrics.bytes_streamed(upstream="bynder", endpoint="/v4/media", received=0)
    assert 1.0 == sample(
        registry,
        "damsync_http_retries_total",
        upstream="bynder",
        endpoint="/v4/media",
        method="GET",
    )
    assert 1.0 == sample(
        registry, "damsync_http_throttled_total", upstream="bynder", endpoint="/v4/media"
    )
    assert 4096.0 == sample(
        registry, "damsync_http_bytes_received_total", upstream="bynder", endpoint="/v4/media"
    )


def test_register_endpoint_exports_every_status_class(registry, metrics):
    """A known endpoint has a zero series per status class, for ratios from the start."""
    metrics.register_endpoint("pim", "GET", "/api/rest/v1/asset-families")
    labels = {"upstream": "pim", "endpoint": "/api/rest/v1/asset-families", "method": "GET"}
    expected = [0.0] * 5
    actual = [
        sample(registry, "damsync_http_requests_total", code=c, **labels)
        for c in ("2xx", "3xx", "4xx", "5xx", "error")
    ]
    assert expected == actual
    assert 0.0 == sample(registry, "damsync_http_retries_total", **labels)


async def test_upstream_reports_through_metrics(registry, metrics):
    """A real Upstream with Metrics as observer counts a 429, its retry and the final 200."""
    answers = iter([httpx.Response(429, json={}), httpx.Response(200, json={"ok": True})])
    client = httpx.AsyncClient(
        base_url="https://pim.example", transport=httpx.MockTransport(lambda _: next(answers))
    )

    async def no_sleep(_: float) -> None:
        return None

    kinds = ErrorKinds(PimUnavailable, PimThrottled, PimAuthError, PimProtocolError)
    upstream = Upstream(
        "pim",
        client,
        kinds,
        retry=RetryPolicy(attempts=3, throttle_pause=0.0),
        observer=metrics,
        sleep=no_sleep,
    )
    spec = RequestSpec("GET", "/api/rest/v1/asset-families", "/api/rest/v1/asset-families")
    try:
        assert {"ok": True} == await upstream.request(spec, lambda r: r.json())
    finally:
        await upstream.aclose()
    labels = {"upstream": "pim", "endpoint": "/api/rest/v1/asset-families", "method": "GET"}
    assert 1.0 == sample(registry, "damsync_http_requests_total", code="4xx", **labels)
    assert 1.0 == sample(registry, "damsync_http_requests_total", code="2xx", **labels)
    assert 1.0 == sample(registry, "damsync_http_retries_total", **labels)
    assert 1.0 == sample(
        registry, "damsync_http_throttled_total", upstream="pim", endpoint=labels["endpoint"]
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/api/rest/v1/assets/{code}", "/api/rest/v1/assets/{code}"),
        ("https://user:pw@dam.example/v4/media?access_token=abc", "/v4/media"),
        ("/v4/media?keyId=secret#frag", "/v4/media"),
        ("https://dam.example", "unknown"),
    ],
)
def test_endpoint_label_strips_hosts_and_queries(raw, expected):
    """An endpoint label never carries a host, credentials or a query string."""
    assert expected == endpoint_label(raw)


def test_labels_are_capped(registry, metrics):
    """Past the cap, new endpoint values fold into ``other`` so cardinality stays bounded."""
    for i in range(MAX_LABEL_VALUES + 50):
        metrics.request_finished(
            upstream="pim", method="GET", endpoint=f"/assets/{i}", status=200, duration=0.1,
            bytes_sent=0, bytes_received=0,
        )  # fmt: skip
    endpoints = {
        s.labels["endpoint"]
        for m in registry.collect()
        if m.name == "damsync_http_requests"
        for s in m.samples
    }
    assert MAX_LABEL_VALUES + 1 == len(endpoints)
    assert 50.0 == sample(
        registry, "damsync_http_requests_total", upstream="pim", endpoint="other", method="GET",
        code="2xx",
    )  # fmt: skip


def test_only_bounded_label_names(registry, metrics):
    """Every damsync series uses only the label names we know to be bounded."""
    metrics.request_finished(
        upstream="pim", method="GET", endpoint="/x", status=200, duration=0.1, bytes_sent=1,
        bytes_received=1,
    )  # fmt: skip
    metrics.structure_cache(hit=True)
    allowed = {"source", "upstream", "endpoint", "method", "code", "version", "le"}
    used = {
        name
        for m in registry.collect()
        if m.name.startswith("damsync_")
        for s in m.samples
        for name in s.labels
    }
    assert set() == used - allowed
