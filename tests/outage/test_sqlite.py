"""
SQLite locked under a running ``damsync run``: another connection holds the write lock.

A SQLite file cannot "go away" the way a server does (the daemon keeps its file descriptors,
and root ignores file modes), and in WAL mode no other connection can block readers. What does
happen in production is a second process (a backup, an operator's ``sqlite3`` shell) holding
the write lock longer than the daemon's ``busy_timeout`` (10 s): every write then fails with
``database is locked``. That is the outage tested here; docs/reliability.md says why readiness
stays green meanwhile.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from daemon.store import Store
from daemon.store.database import SQLITE_BUSY_TIMEOUT_MS, upgrade
from tests.outage.conftest import (
    SEQUENTIAL,
    checkpoint_violations,
    healthz_status,
    start,
    wait_until,
)
from tests.reliability.conftest import differences

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_pass_blocked_by_a_held_write_lock_fails_cleanly_and_the_next_completes(
    gated_sims, start_daemon, tmp_path
):
    """A pass whose writes meet another connection's lock held past busy_timeout fails and is
    recorded as failed without crashing the daemon or losing an asset, /healthz keeps answering,
    and the next pass after the release brings the PIM to the DAM's exact state."""
    sims, gate = gated_sims
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    store = Store.from_url(url)
    locker = sqlite3.connect(db, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        # The first pass stops before its second page (requested ahead while the first page is
        # written), with the first page's full batch committed and no store write in flight (one
        # batch at a time, the rest buffered until more pages come): the lock is taken there.
        gate.close()
        daemon = start(start_daemon, tmp_path, sims, url, replace=SEQUENTIAL)
        assert gate.parked.wait(60), daemon.output()
        wait_until(
            lambda: daemon.events("store.batch_committed"), 60, "the first page's full batch"
        )
        committed = len(daemon.events("store.batch_committed"))
        locker.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        assert [] == daemon.events("sync.pass_finished")  # the first pass is held mid-way
        assert committed >= 1  # 100 assets of two families: one family filled a batch of 50
        assert [] == checkpoint_violations(sims, store)  # WAL: readers see the committed state
        gate.open()

        failed = daemon.wait_event("sync.pass_failed", timeout=SQLITE_BUSY_TIMEOUT_MS / 1000 + 60)
        assert 200 == healthz_status(daemon)  # no database call blocks the event loop
        locker.execute("ROLLBACK")  # within busy_timeout: the failed run itself is recorded
        assert "StoreUnavailableError" in failed[0]["error"], failed[0]
        assert "database is locked" in failed[0]["error"], failed[0]
        assert time.monotonic() - locked_at >= SQLITE_BUSY_TIMEOUT_MS / 1000 - 1
        assert committed == len(daemon.events("store.batch_committed"))

        finished = daemon.wait_event("sync.pass_finished", timeout=30)[0]
        assert "failed" == finished["status"]
        assert finished["written"] < len(sims.dam_assets())  # the pass was really cut short
        wait_until(
            lambda: any(e["status"] == "succeeded" for e in daemon.events("sync.pass_finished")),
            90,
            "a successful pass after the release",
        )
        assert None is daemon.process.poll()
        assert [] == checkpoint_violations(sims, store)
        assert [] == differences(sims)
        assert [] == store.list_failures("demo")
    finally:
        locker.close()
        store.dispose()
