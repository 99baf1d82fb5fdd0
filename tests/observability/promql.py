"""
Helpers for the observability tests: metric names used by PromQL, and the names we export.

The extractor is deliberately small: it blanks strings, label matchers, ranges and grouping
clauses, then keeps every identifier that is not a function, an aggregation or a keyword.
``tests/observability/test_promql.py`` pins its behaviour, so it cannot silently find nothing.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.telemetry.metrics import make_metrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
SCRAPE_CONFIG = ROOT / "config" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "config" / "grafana" / "dashboards" / "damsync.json"

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENT = re.compile(r"(?<![\w.:$])([a-zA-Z_:][\w:]*+)(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset", "inf", "nan", "atan2"}
)  # fmt: skip

#: Names that Prometheus itself provides for a scraped target.
PROMETHEUS_NAMES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLES.sub(" ", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def exported_names() -> set[str]:
    """Every sample name the daemon exports, with all series children created."""
    registry = CollectorRegistry()
    metrics = make_metrics(registry, sources=[("s", 60.0)])
    metrics.register_endpoint("pim", "GET", "/x")
    metrics.register_event_source("s", ("webhook", "rabbitmq", "nats"))
    return {s.name for m in registry.collect() for s in m.samples} | PROMETHEUS_NAMES


def require_binary(name: str) -> str:
    """
    The path of a Prometheus tool; fails under CI when missing, skips locally.

    Returns:
        The executable's path.
    """
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package 'prometheus')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI must run this test")
        pytest.skip(message)
    return path
