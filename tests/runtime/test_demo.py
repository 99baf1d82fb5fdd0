"""`damsync demo --duration 8`: the daemon against both simulators, stopping by itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.runtime.conftest import ROOT, query, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def demo_command() -> list[str]:
    """`damsync demo`, as a user runs it."""
    return [sys.executable, "-m", "daemon", "demo"]


def test_demo_runs_passes_serves_metrics_and_stops_by_itself(tmp_path):
    """The demo exits 0 after --duration, its passes wrote assets, and /metrics answered."""
    workdir = tmp_path / "demo"
    args = ["--duration", "8", "--assets", "50", "--port-base", "0", "--dir", str(workdir)]
    started = time.monotonic()
    process = subprocess.Popen(
        [*demo_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        metrics_line = wait_for(
            lambda: next((line for line in list(lines) if "/metrics" in line), None),
            20,
            "the printed /metrics address",
        )
        found = re.search(r"http://\S+/metrics", metrics_line)
        assert found is not None, metrics_line
        url = found.group(0)
        scraped = wait_for(
            lambda: (r := _get(url)) is not None and "damsync_sync_passes_total{" in r and r,
            20,
            "a scrape after the first pass",
        )
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    reader.join(5)
    if process.stdout is not None:
        process.stdout.close()
    output = "".join(lines)
    assert 0 == code, output
    assert time.monotonic() - started < 30
    assert "process_resident_memory_bytes" in scraped
    runs = query(workdir / "damsync.db", "SELECT status, written FROM sync_runs")
    assert runs and all(status in ("success", "partial") for status, _ in runs), runs
    assert sum(written for _, written in runs) >= 40
    assert re.search(r"damsync demo: [1-9]\d* passes, [1-9]\d* assets written", output), output


def _get(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return None
