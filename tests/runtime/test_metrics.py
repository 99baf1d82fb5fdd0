"""GET /metrics on a running `damsync run` process: names, labels, and values after a restart."""

from __future__ import annotations

import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.runtime.conftest import Daemon, free_port, migrate, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LAST_SUCCESS = "damsync_sync_last_success_timestamp_seconds"
Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Scrape:
    found: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scrape: Scrape, name: str, **labels: str) -> float | None:
    return scrape.get((name, tuple(sorted(labels.items()))))


def scrape_after_pass(daemon: Daemon) -> Scrape:
    def ready() -> Scrape | None:
        try:
            scrape = samples(daemon.get("/metrics").text)
        except httpx.HTTPError:  # not listening yet
            return None
        passes = value(scrape, "damsync_sync_passes_total", source="demo")
        return scrape if passes and passes >= 1 else None

    found: Scrape = wait_for(ready, 30, "a pass counted in /metrics", step=0.2)
    return found


def test_metrics_after_a_pass_and_last_success_seeded_after_restart(tmp_path, sims, start_daemon):
    """After a pass the daemon exports pass, asset and PIM HTTP counters with their labels and
    the process metrics; after a restart the last success comes from the database."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    port = free_port()
    config = write_config(tmp_path / "c.toml", sims, store_url=url, server_port=port, grace=2)
    migrate(url)
    first = start_daemon(config, port)
    scrape = scrape_after_pass(first)
    first.signal(signal.SIGTERM)
    assert 0 == first.wait_exit(timeout=15)

    written = value(scrape, "damsync_assets_written_total", source="demo")
    pim_requests = [
        labels
        for (name, labels), count in scrape.items()
        if name == "damsync_http_requests_total" and ("upstream", "pim") in labels and count
    ]
    last = value(scrape, LAST_SUCCESS, source="demo")
    assert (True, True, True) == (bool(written), bool(pim_requests), bool(last))
    assert {"code", "endpoint", "method", "upstream"} == {k for k, _ in pim_requests[0]}
    assert value(scrape, "process_resident_memory_bytes")

    sims.dam_options(latency=30)  # the restarted daemon's pass hangs: nothing new succeeds
    second = start_daemon(config, port)
    second.wait_event("runtime.started")
    second.wait_event("server.started")
    restarted = samples(second.get("/metrics").text)
    second.signal(signal.SIGTERM)
    assert 0 == second.wait_exit(timeout=15)
    assert pytest.approx(last, abs=1.0) == value(restarted, LAST_SUCCESS, source="demo")
    assert 0 == value(restarted, "damsync_sync_passes_total", source="demo")
