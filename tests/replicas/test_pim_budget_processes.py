"""
Two ``damsync run`` processes on one PostgreSQL database, both writing one PIM (its budget:
the example's ``http.max_in_flight = 4``): once each owns a source, each uses a share of 2, says
so in its log and its metrics, and the PIM simulator never sees more than 4 requests in flight.
"""

from __future__ import annotations

import httpx
import pytest

from tests.runtime.conftest import _start_daemon

from .rig import wait_until
from .test_processes import _pg_url, _store, _worlds, launch, metric, shares

__all__ = ["_pg_url", "_start_daemon", "_store", "_worlds"]  # fixtures registered by import

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.slow]

#: The example configuration's pim.http.max_in_flight (Akeneo's limit per connection).
BUDGET = 4

#: A full sync of every source on a loaded machine (bounds a wait, measures nothing).
SYNCED = 120


def test_two_replicas_writing_one_pim_keep_to_its_budget_together(
    store, pg_url, worlds, start_daemon, tmp_path
):
    sources = ["s1", "s2"]
    world = worlds(sources, replicas=2, assets=80)
    a = launch(start_daemon, tmp_path, world, 0, pg_url)
    b = launch(start_daemon, tmp_path, world, 1, pg_url)
    wait_until(lambda: [1, 1] == shares(store, sources, [a, b]), 60, "a 1 + 1 split", a, b)

    def halved(daemon) -> bool:
        return any(e.get("share") == 2 for e in daemon.events("pim.budget_shared"))

    wait_until(lambda: halved(a) and halved(b), 60, "each replica at half the budget", a, b)
    for daemon in (a, b):
        (line,) = [e for e in daemon.events("pim.budget_shared") if e["share"] == 2]
        assert {"pim": "default", "replicas": 2} == {k: line[k] for k in ("pim", "replicas")}
        assert 2 == metric(daemon, 'damsync_pim_requests_in_flight_limit{pim="default"}')

    # From here on both replicas know of each other: the PIM's high-water mark starts afresh,
    # and each request is slowed so that the passes' requests overlap at the PIM. While it is
    # measured the test itself sends the PIM nothing (its requests would count).
    pim = world.pim_urls[0]
    httpx.put(f"{pim}/_sim/options", json={"latency": 0.05}, timeout=30).raise_for_status()
    before = [len(d.events("sync.pass_finished")) for d in (a, b)]
    httpx.post(f"{pim}/_sim/reset-stats", timeout=30).raise_for_status()
    for _ in range(3):
        world.tick()

    def passes_after_the_ticks() -> bool:  # the pass running at the tick, then a whole one
        now = [len(d.events("sync.pass_finished")) for d in (a, b)]
        return all(n >= b4 + 2 for n, b4 in zip(now, before, strict=True))

    wait_until(passes_after_the_ticks, SYNCED, "two passes of each replica", a, b)
    stats = httpx.get(f"{pim}/_sim/stats", timeout=30).json()
    assert stats["requests"].get("PATCH /api/rest/v1/asset-families/{family}/assets")
    assert stats["max_in_flight"] <= BUDGET, stats
    assert stats["max_in_flight_per_token"] <= BUDGET // 2, stats  # one token per replica
    wait_until(lambda: [] == world.missing(), SYNCED, "the PIM equal to the DAM", a, b)
    assert [] == world.log.overlaps()
