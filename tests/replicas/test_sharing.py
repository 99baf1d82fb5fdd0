"""
The heartbeat in-process: sources shared out over replicas, takeover of a dead replica's, a
stale replica's leases dropped, SQLite's single process. Each "replica" here is a
:class:`SourceOwnership` with its own holder name on one real store.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.engine.leasing import lease_keeper, process_holder
from daemon.engine.replica_leases import SecondProcessError, SourceOwnership, share_target
from daemon.store import StoreUnavailableError
from daemon.store.rows import ReplicaView

from .conftest import expire_lease, expire_replica

SOURCES = ["s1", "s2", "s3"]


class Seen:
    """An ownership observer that records what it was told."""

    def __init__(self) -> None:
        self.owned: dict[str, bool] = {}
        self.losses: list[str] = []
        self.renewals: list[str] = []
        self.live = 0

    def lease_renewed(self, source: str) -> None:
        self.renewals.append(source)

    def source_owned(self, source: str, owned: bool) -> None:
        self.owned[source] = owned

    def lease_lost(self, source: str) -> None:
        self.losses.append(source)

    def replicas_seen(self, live: int) -> None:
        self.live = live


def replica(store, name: str, sources=SOURCES, observer=None) -> SourceOwnership:
    return SourceOwnership(
        store, sources, name, ttl=30, heartbeat=10, spread=True, observer=observer
    )


def owners(store, sources=SOURCES) -> dict[str, str | None]:
    return {s: store.lease_holder(s) for s in sources}


async def settle(*replicas: SourceOwnership, rounds: int = 6) -> None:
    """Heartbeat every replica in turn, a bounded number of rounds."""
    for _ in range(rounds):
        for r in replicas:
            await r.tick()


@pytest.mark.parametrize(
    ("live", "me", "sources", "target"),
    [
        ({"a": 0}, "a", 3, 3),  # alone: everything
        ({}, "a", 3, 3),  # not announced yet: counted anyway
        ({"a": 3, "b": 0}, "a", 3, 1),  # b has none: a goes down to floor(3/2)
        ({"a": 1, "b": 0}, "b", 3, 2),  # a has its floor: b may take ceil(3/2)
        ({"a": 2, "b": 1}, "a", 3, 2),
        ({"a": 2, "b": 2, "c": 0}, "a", 4, 1),  # c below floor(4/3): a and b give back
        ({"a": 1, "b": 1, "c": 0}, "c", 4, 2),
        ({"a": 1, "b": 1, "c": 1}, "a", 2, 1),  # more replicas than sources: one each at most
        ({"a": 0, "b": 0, "c": 0}, "c", 2, 1),
        ({"a": 5}, "a", 0, 0),
    ],
)
def test_share_target(live, me, sources, target):
    assert target == share_target(ReplicaView(live, frozenset()), me, sources)


pytestmark_pg = pytest.mark.parametrize("url", ["postgresql"], indirect=True)


@pytest.mark.postgres
@pytestmark_pg
async def test_two_replicas_split_three_sources_and_a_third_gets_its_share(store):
    """2 + 1 between two replicas; a third one joining gets one, none keeps more than two."""
    a, b = replica(store, "a"), replica(store, "b")
    await a.start()
    await a.tick()
    assert SOURCES == a.owned()  # alone: everything
    await b.start()
    await settle(a, b)
    assert [1, 2] == sorted([len(a.owned()), len(b.owned())])
    assert set(SOURCES) == set(a.owned()) | set(b.owned())
    assert {"a", "b"} >= set(owners(store).values())

    c = replica(store, "c")
    await c.start()
    await settle(c, a, b)
    assert [1, 1, 1] == sorted(len(r.owned()) for r in (a, b, c))
    for source, holder in owners(store).items():
        assert [holder] == [r.holder for r in (a, b, c) if source in r.owned()]


@pytest.mark.postgres
@pytestmark_pg
async def test_a_dead_replicas_sources_are_taken_once_its_leases_expire(store):
    """Until its leases expire a dead replica's sources wait; then one heartbeat takes them."""
    a, b = replica(store, "a"), replica(store, "b")
    await a.start()
    await b.start()
    await settle(a, b)
    dead = b.owned()
    assert dead and a.owned()
    await a.tick()  # b's leases are still valid: nothing moves
    assert set(dead).isdisjoint(a.owned())
    for source in dead:
        expire_lease(store, source)
    expire_replica(store, "b")
    taken = await a.tick()
    assert sorted(dead) == sorted(taken)
    assert SOURCES == a.owned()
    assert {"a"} == set(owners(store).values())


@pytest.mark.postgres
@pytestmark_pg
async def test_a_resumed_stale_replica_drops_what_was_taken_over_and_its_jobs_stop(store):
    """The paused replica's renewals fail: its leases are dropped, counted, its jobs told."""
    seen = Seen()
    a, b = replica(store, "a"), replica(store, "b", observer=seen)
    await b.start()
    await b.tick()
    assert SOURCES == b.owned()
    stop = asyncio.Event()
    with b.job_stop("s1", stop) as job_stop:
        for source in SOURCES:  # b "paused" past its lease; a takes everything
            expire_lease(store, source)
        expire_replica(store, "b")
        await a.start()
        await a.tick()
        assert SOURCES == a.owned()
        assert not job_stop.is_set()
        await b.tick()  # b resumes
        assert job_stop.is_set()
    assert [] == b.owned()
    assert sorted(SOURCES) == sorted(seen.losses)
    assert {s: False for s in SOURCES} == seen.owned
    assert {"a"} == set(owners(store).values())
    assert not stop.is_set()


@pytest.mark.postgres
@pytestmark_pg
async def test_a_busy_source_is_not_handed_back_until_its_job_ends(store):
    """Above its share, a replica hands back idle sources only; the busy one waits."""
    a, b = replica(store, "a"), replica(store, "b")
    await a.start()
    await a.tick()
    keeper = lease_keeper()
    locks = [keeper.lock(s, "a") for s in SOURCES]
    for lock in locks:
        await lock.acquire()  # every source of a runs a job
    await b.start()
    await b.tick()
    await a.tick()
    assert SOURCES == a.owned()
    locks[0].release()
    await a.tick()
    assert ["s2", "s3"] == a.owned()
    await b.tick()
    assert ["s1"] == b.owned()
    for lock in locks[1:]:
        lock.release()


@pytest.mark.postgres
@pytestmark_pg
async def test_leaving_hands_every_source_back(store):
    """On shutdown the replica releases its leases and its row: another takes them at once."""
    a, b = replica(store, "a"), replica(store, "b")
    await a.start()
    await a.tick()
    await a.leave()
    assert {None} == set(owners(store).values())
    await b.start()
    assert SOURCES == sorted(await b.tick())
    assert ["b"] == sorted(store.replica_heartbeat("b", 30, SOURCES).live)


@pytest.mark.postgres
@pytestmark_pg
async def test_a_source_no_longer_configured_is_released(store):
    """After a reload without a source its lease goes back."""
    a = replica(store, "a")
    await a.start()
    await a.tick()
    a.sources = ["s1", "s2"]
    await a.tick()
    assert ["s1", "s2"] == a.owned()
    assert None is store.lease_holder("s3")


async def test_without_sharing_every_source_runs_and_job_leases_are_renewed(store):
    """SQLite (or spread off): no source is kept, jobs run everywhere, their leases renewed."""
    r = SourceOwnership(store, SOURCES, "a", ttl=30, heartbeat=10, spread=False)
    await r.start()
    assert [] == await r.tick()
    assert all(r.may_run(s) for s in SOURCES)
    assert {None} == set(owners(store).values())
    keeper = lease_keeper()
    lease = store.acquire_lease("s1", "a", 30)
    keeper.active[("s1", "a")] = lease
    await r.tick()
    assert lease.expires_at < keeper.active[("s1", "a")].expires_at
    assert lease.epoch == keeper.active[("s1", "a")].epoch


PRINT_HOLDER = (
    "import sys\n"
    "from daemon.engine.leasing import process_holder\n"
    "print(process_holder(), flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture(name="other_process")
def _other_process():
    """A live child process and its holder name; it exits when the test calls ``end``."""
    child = subprocess.Popen(
        [sys.executable, "-c", PRINT_HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    def end() -> None:
        if child.poll() is None:
            child.communicate(timeout=30)

    assert child.stdout is not None
    try:
        yield child.stdout.readline().strip(), end
    finally:
        end()


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
async def test_sqlite_refuses_a_second_live_process_and_forgets_a_dead_one(store, other_process):
    """A live process's row refuses this one (naming it); a dead process's row is forgotten."""
    other, end = other_process
    store.replica_heartbeat(other, 600, SOURCES)
    me = SourceOwnership(store, SOURCES, process_holder(), ttl=600, heartbeat=200, spread=True)
    assert not me.spread  # SQLite never shares
    with pytest.raises(SecondProcessError, match="SQLite allows one process") as caught:
        await me.start()
    assert other in str(caught.value)
    assert [other] == store.other_replicas("nobody")  # this one's row is gone again
    end()
    await me.start()  # the other process exited: its row is forgotten
    assert [me.holder] == store.other_replicas("nobody")


@pytest.mark.postgres
@pytestmark_pg
async def test_a_failed_first_heartbeat_is_tried_again_long_before_the_next_one(store, monkeypatch):
    """The store away at start: the replica owns nothing, and retries within seconds (not a
    whole heartbeat, here 100 s) to take its sources, which then run at once."""
    real = store.replica_heartbeat
    calls = []

    def flaky(*args):
        calls.append(args)
        if len(calls) <= 2:
            raise StoreUnavailableError(operation="replica_heartbeat", reason="test: away")
        return real(*args)

    monkeypatch.setattr(store, "replica_heartbeat", flaky)
    a = SourceOwnership(store, SOURCES, "a", ttl=300, heartbeat=100, spread=True)
    assert True is await a.join()  # the store is away: a warning, the daemon goes on
    assert ([], 1) == (a.owned(), a.failures)
    taken: list[str] = []
    stop, all_taken = asyncio.Event(), asyncio.Event()

    def took(source: str) -> None:
        taken.append(source)
        if len(taken) == len(SOURCES):
            all_taken.set()

    beat = asyncio.ensure_future(a.run(stop, took))
    try:  # bounds the wait: the next heartbeat is 100 s away
        await asyncio.wait_for(all_taken.wait(), 30)
    finally:
        stop.set()
        await beat
    assert SOURCES == sorted(taken) == a.owned()
    assert 0 == a.failures
