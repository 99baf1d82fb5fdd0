"""Leases: epochs on holder change, renewals, expiry on the DB clock, fencing and rewind."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from daemon.core.records import Cursor
from daemon.engine.leasing import acquire_lease, dead_local_holder, process_holder
from daemon.store import AssetWrite, HeldLease, Lease, LeaseLostError, Store

from .conftest import expire_lease

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_first_lease_has_epoch_one_and_creates_the_checkpoint(store):
    """The first acquisition gets epoch 1 and an empty checkpoint fenced by it."""
    lease = store.acquire_lease("dam", "a", 30)
    assert lease is not None
    assert 1 == lease.epoch
    checkpoint = store.load_checkpoint("dam")
    assert (None, None, 1) == (checkpoint.cursor, checkpoint.window, checkpoint.epoch)


def test_renewal_keeps_the_epoch_and_extends_expiry(store):
    """The same holder renewing keeps its epoch."""
    first = store.acquire_lease("dam", "a", 30)
    again = store.acquire_lease("dam", "a", 300)
    assert first.epoch == again.epoch
    assert again.expires_at > first.expires_at


def test_valid_lease_is_refused_to_another_holder(store):
    """A second holder gets nothing while the lease is valid."""
    store.acquire_lease("dam", "a", 30)
    assert None is store.acquire_lease("dam", "b", 30)


def test_expired_lease_is_taken_over_with_a_new_epoch(store):
    """After expiry another holder takes the lease and the epoch increments."""
    first = store.acquire_lease("dam", "a", 30)
    expire_lease(store, "dam")
    second = store.acquire_lease("dam", "b", 30)
    assert first.epoch + 1 == second.epoch
    assert second.epoch == store.load_checkpoint("dam").epoch


def test_lease_expiry_is_on_the_database_clock(store):
    """expires_at is about ttl seconds past the database's now, whatever the store clock says."""
    lease = store.acquire_lease("dam", "a", 3600)
    delta = (lease.expires_at - datetime.now(UTC)).total_seconds()
    assert 3500 < delta < 3700


def test_leases_are_per_source(store):
    """Two sources have independent leases."""
    assert store.acquire_lease("one", "a", 30) is not None
    assert store.acquire_lease("two", "b", 30) is not None


def test_stale_epoch_commit_raises_and_writes_nothing(store):
    """A writer whose lease was taken over cannot commit anything."""
    run = store.start_run("dam")
    stale = store.acquire_lease("dam", "a", 30)
    expire_lease(store, "dam")
    fresh = store.acquire_lease("dam", "b", 30)
    with pytest.raises(LeaseLostError) as caught:
        store.commit_batch(
            stale,
            run,
            cursor=Cursor(T0, "x"),
            written=[AssetWrite("x", "fam", "x", "h1")],
            media=[("sum", "media/1")],
        )
    assert ("dam", stale.epoch) == (caught.value.source, caught.value.epoch)
    assert None is store.load_checkpoint("dam").cursor
    assert {} == store.asset_states("dam", ["x"])
    assert None is store.media_code("dam", "sum")
    store.commit_batch(fresh, run, cursor=Cursor(T0, "x"))
    assert Cursor(T0, "x") == store.load_checkpoint("dam").cursor


def test_released_lease_can_never_write_again(store):
    """Releasing bumps the epoch so the released lease is fenced out."""
    lease = store.acquire_lease("dam", "a", 30)
    assert True is store.release_lease(lease)
    with pytest.raises(LeaseLostError):
        store.commit_batch(lease, None, cursor=Cursor(T0, "x"))
    assert False is store.release_lease(lease)


def test_reacquire_after_release_gets_a_new_epoch(store):
    """Even the same holder gets a new epoch after releasing."""
    lease = store.acquire_lease("dam", "a", 30)
    store.release_lease(lease)
    again = store.acquire_lease("dam", "b", 30)
    assert again is not None
    assert again.epoch > lease.epoch


def test_rewind_resets_the_cursor_and_fences_the_running_holder(store):
    """An operator rewind moves the cursor back and the old lease can no longer write it forward."""
    lease = store.acquire_lease("dam", "a", 30)
    store.commit_batch(lease, None, cursor=Cursor(datetime(2025, 6, 1, tzinfo=UTC), "z"))
    rewound = store.rewind("dam", T0)
    assert Cursor(T0, "") == rewound.cursor
    with pytest.raises(LeaseLostError):
        store.commit_batch(lease, None, cursor=Cursor(datetime(2025, 7, 1, tzinfo=UTC), "z"))
    assert Cursor(T0, "") == store.load_checkpoint("dam").cursor
    renewed = store.acquire_lease("dam", "a", 30)
    assert renewed.epoch == store.load_checkpoint("dam").epoch


def test_rewind_to_none_forgets_the_cursor(store):
    """Rewinding to None means a full re-read; it also works for a source never synced."""
    assert None is store.rewind("new", None).cursor
    lease = store.acquire_lease("new", "a", 30)
    assert lease is not None


def test_concurrent_acquisitions_elect_exactly_one_holder(store: Store):
    """Eight threads racing for a free lease: exactly one wins, and the epoch is 1."""
    barrier = threading.Barrier(8)

    def race(holder: str) -> Lease | None:
        barrier.wait()
        return store.acquire_lease("dam", holder, 30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(race, [f"h{i}" for i in range(8)]))
    winners = [lease for lease in results if lease is not None]
    assert 1 == len(winners)
    assert 1 == winners[0].epoch


def test_takeover_of_a_named_dead_holder_is_immediate_and_fences_it(store):
    """A lease of a holder known to be dead is taken at once; the dead one can never write."""
    dead = store.acquire_lease("src", "host:1111", 600)
    assert "host:1111" == store.lease_holder("src")
    assert store.acquire_lease("src", "host:2222", 600) is None
    assert store.acquire_lease("src", "host:2222", 600, takeover="host:9999") is None
    mine = store.acquire_lease("src", "host:2222", 600, takeover="host:1111")
    assert mine is not None
    assert mine.epoch == dead.epoch + 1
    with pytest.raises(LeaseLostError):
        store.commit_batch(dead, None, cursor=Cursor(datetime(2026, 1, 1, tzinfo=UTC), "a"))


def test_lease_held_names_the_holder_and_the_expiry_until_released(store):
    """While a lease is held its holder and expiry can be read; released, nobody holds it."""
    lease = store.acquire_lease("src", "web-1:42:9000", 600)
    held = store.lease_held("src")
    store.release_lease(lease)
    assert HeldLease("src", "web-1:42:9000", lease.expires_at) == held
    assert (None, None) == (store.lease_held("src"), store.lease_held("never-leased"))


def exited_process_holder() -> str:
    """The lease holder name of a process of this host that has exited (and was reaped)."""
    code = "from daemon.engine.leasing import process_holder; print(process_holder())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


async def test_a_dead_local_holder_is_taken_over_at_once_on_sqlite_only(store):
    """SQLite (one host) takes a dead process's lease at once; PostgreSQL, shared by hosts
    whose names and pids may collide, waits for its expiry."""
    dead = exited_process_holder()
    store.acquire_lease("src", dead, 600)
    before_expiry = await acquire_lease(store, "src", process_holder(), 600, dead_local_holder)
    expire_lease(store, "src")
    after_expiry = await acquire_lease(store, "src", process_holder(), 600, dead_local_holder)
    expected = {"sqlite": (True, True), "postgresql": (False, True)}[store.dialect]
    assert expected == (before_expiry is not None, after_expiry is not None)
