"""Tests for the PromQL metric-name extractor the observability tests rely on."""

from __future__ import annotations

import pytest

from tests.observability.promql import exported_names, metric_names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", {"up"}),
        ('up{job="damsync"} == 0', {"up"}),
        (
            'sum by (le, source) (rate(damsync_x_bucket{job="d", source=~"$source"}'
            "[$__rate_interval]))",
            {"damsync_x_bucket"},
        ),
        ("histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m])))", {"a_bucket"}),
        ("time() - a_seconds > 2 * b_seconds + 900", {"a_seconds", "b_seconds"}),
        (
            "predict_linear(process_resident_memory_bytes[6h], 86400) > 2e9",
            {"process_resident_memory_bytes"},
        ),
        ("a / on(x) group_left(y) b offset 1h", {"a", "b"}),
        ('absent(damsync_build_info{job="damsync"})', {"damsync_build_info"}),
        ('rate(a{code=~"5xx|error"}[15m]) unless bool c', {"a", "c"}),
        ("topk(5, x)", {"x"}),
    ],
)
def test_metric_names(expr, expected):
    """The extractor finds exactly the selected metric names."""
    assert expected == metric_names(expr)


def test_exported_names_include_histogram_suffixes_and_process():
    """The exported set has counters with _total, histogram series and process metrics."""
    names = exported_names()
    for name in (
        "damsync_sync_passes_total",
        "damsync_sync_pass_duration_seconds_bucket",
        "damsync_http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
        "up",
    ):
        assert name in names
    assert "damsync_sync_passes" not in names
