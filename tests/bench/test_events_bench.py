"""
`python -m bench.events` for a few seconds at a low rate: every change reaches the PIM.

A smoke test of the benchmark's machinery (simulators, daemon child process, driver, PIM watch,
broker clean-up), not of its timings: no figure but the counts is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.intake.broker_fixtures import require_server
from tests.runtime.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BROKERS = {"rabbitmq": ("RabbitMQ", 5672), "nats": ("NATS", 4222)}


@pytest.mark.parametrize("via", ["webhook", "rabbitmq", "nats"])
def test_every_change_reaches_the_pim(tmp_path, via):
    """25 changes in 5 s: all delivered through ``via``, none lost, none rejected."""
    if via in BROKERS:
        name, port = BROKERS[via]
        require_server(name, "127.0.0.1", port)
    out = tmp_path / "events.json"
    args = ["--via", via, "--rate", "5", "--seconds", "5", "--drain", "20", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.events", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))["result"]
    assert (25, 25, 0) == (result["changes"], result["delivered"], result["lost"]), result
    assert 25 == result["events_received"], result
    assert 0 == result["events_rejected"], result
    assert 0 == result["daemon_exit"], result
    assert f"| {via} |" in done.stdout
