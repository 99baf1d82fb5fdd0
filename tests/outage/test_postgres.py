"""
PostgreSQL going away under a running ``damsync run``: readiness and passes.

The daemon reaches a fresh ``damsync_t_<random>`` database on the shared server only through a
:class:`~tests.outage.proxy.TcpProxy`; the test cuts the proxy (every connection aborted, no new
one accepted) and restores it. The test itself reads the database directly.
"""

from __future__ import annotations

import pytest

from daemon.store import Store
from tests.outage.conftest import (
    INTERVAL,
    checkpoint_violations,
    healthz_status,
    start,
    wait_readyz,
    wait_until,
)
from tests.reliability.conftest import differences

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("sims", [{"assets": 40}], indirect=True)
def test_readyz_follows_the_database_while_healthz_stays_up(sims, pg_proxy, start_daemon, tmp_path):
    """/readyz turns 503 naming the `database` check while PostgreSQL is unreachable and 200
    once it is back, while /healthz answers 200 throughout."""
    _direct, proxied, proxy = pg_proxy
    daemon = start(start_daemon, tmp_path, sims, proxied)
    wait_readyz(daemon, 200, timeout=30)  # after the first pass

    proxy.cut()
    body = wait_readyz(daemon, 503, timeout=15)
    assert ("unready", ["database"]) == (body["status"], body["failed"])
    (check,) = body["checks"]
    assert ("database", False) == (check["name"], check["ok"])
    assert check["detail"].startswith("StoreUnavailableError"), check
    assert 200 == healthz_status(daemon)
    assert None is daemon.process.poll()

    proxy.restore()
    body = wait_readyz(daemon, 200, timeout=15)
    assert ("ready", []) == (body["status"], body["failed"])
    assert 200 == healthz_status(daemon)


@pytest.mark.parametrize("sims", [{"assets": 200}], indirect=True)
def test_pass_cut_by_a_database_outage_fails_cleanly_and_the_next_completes(
    sims, pg_proxy, start_daemon, tmp_path
):
    """A pass whose database goes away between two batches fails without crashing the daemon or
    moving the cursor past an unwritten asset, and the next pass after the restore brings the
    PIM to the DAM's exact state."""
    direct, proxied, proxy = pg_proxy
    sims.dam_options(latency=0.05)  # every page and binary is slow: the pass takes seconds
    store = Store.from_url(direct)
    try:
        daemon = start(start_daemon, tmp_path, sims, proxied)
        daemon.wait_event("store.batch_committed", timeout=60)
        proxy.cut()
        # Cut during the first pass: it may already have failed on the cut by now, never succeeded.
        assert [] == [e for e in daemon.events("sync.pass_finished") if e["status"] != "failed"]

        failed = daemon.wait_event("sync.pass_failed", timeout=60)
        assert "StoreUnavailableError" in failed[0]["error"], failed[0]
        assert 200 == healthz_status(daemon)
        assert [] == checkpoint_violations(sims, store)
        assert [] != differences(sims)  # the pass was really cut short

        proxy.restore()
        wait_until(
            lambda: any(e["status"] == "succeeded" for e in daemon.events("sync.pass_finished")),
            90,
            "a successful pass after the restore",
        )
        assert None is daemon.process.poll()
        assert 200 == healthz_status(daemon)
        assert [] == checkpoint_violations(sims, store)
        assert [] == differences(sims)
        assert [] == store.list_failures("demo")
    finally:
        store.dispose()


def metric(daemon, name: str, source: str = "demo") -> float:
    """One sample of the daemon's /metrics for ``source`` (0 when absent)."""
    prefix = f'{name}{{source="{source}"}} '
    for line in daemon.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


@pytest.mark.parametrize("sims", [{"assets": 40}], indirect=True)
def test_passes_failed_by_a_database_outage_are_counted(sims, pg_proxy, start_daemon, tmp_path):
    """Scheduled passes that fail because the database is gone count in
    damsync_sync_pass_failures_total and end with a `sync.pass_finished` line marked failed."""
    _direct, proxied, proxy = pg_proxy
    daemon = start(start_daemon, tmp_path, sims, proxied)
    wait_readyz(daemon, 200, timeout=30)  # after the first pass
    proxy.cut()
    wait_until(
        lambda: (
            metric(daemon, "damsync_sync_pass_failures_total") >= 1
            and any(e["status"] == "failed" for e in daemon.events("sync.pass_finished"))
        ),
        3 * INTERVAL + 5,
        "a failed pass counted in /metrics and logged by sync.pass_finished",
    )
