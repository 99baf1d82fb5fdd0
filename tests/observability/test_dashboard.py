"""Tests for the Grafana dashboard: well-formed, and every query uses exported metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.observability.promql import DASHBOARD, exported_names, metric_names

_LABEL_VALUES = re.compile(r"label_values\(\s*([^,)]+?)\s*,")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    exprs = [t["expr"] for p in panels() for t in p["targets"]]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            match = _LABEL_VALUES.search(var["query"]["query"])
            assert match, var["query"]
            exprs.append(match.group(1))
    return exprs


def test_rows_tell_the_story():
    """The dashboard goes from freshness to throughput, upstream, backlogs, process, scheduler."""
    expected = [
        "Freshness", "Throughput", "Upstream HTTP (RED)", "Backlogs", "Process (USE)", "Scheduler"
    ]  # fmt: skip
    actual = [p["title"] for p in dashboard()["panels"] if p["type"] == "row"]
    assert expected == actual


def test_unique_panel_ids_and_uid():
    """Panel ids are unique and the dashboard has a stable uid."""
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    assert "damsync-overview" == dashboard()["uid"]


def test_latency_uses_histogram_quantile():
    """Upstream latency panels are computed from histogram buckets."""
    exprs = queries()
    assert any(
        "histogram_quantile(0.99" in e and "damsync_http_request_duration_seconds_bucket" in e
        for e in exprs
    )


@pytest.mark.parametrize("expr", queries())
def test_query_uses_exported_metrics(expr):
    """Every metric a panel or variable queries is one the daemon really exports."""
    used = metric_names(expr)
    assert used, f"no metric found in {expr!r}"
    assert set() == used - exported_names()


def test_provisioning_points_at_dashboards():
    """The dashboard provider is a file provider and the datasource is Prometheus."""
    base = DASHBOARD.parents[1] / "provisioning"
    provider = yaml.safe_load((base / "dashboards" / "damsync.yaml").read_text(encoding="utf-8"))
    source = yaml.safe_load((base / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))
    assert "file" == provider["providers"][0]["type"]
    assert "prometheus" == source["datasources"][0]["type"]
