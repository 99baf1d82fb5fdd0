"""
Two and three ``damsync run`` processes on one PostgreSQL database: the sources are shared out,
a killed replica's sources are taken over once its leases expire, a paused stale owner has its
writes refused by the fence, and a replica cut from the database gives its sources up and gets
its share back. The PIM's request log (who wrote which source, when) shows that no two
replicas ever wrote one source at the same time, and the PIM ends with every DAM asset.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from daemon.store import Store
from daemon.store.database import upgrade
from daemon.store.replica_tables import replicas
from daemon.store.tables import asset_states, leases
from tests.outage.proxy import TcpProxy
from tests.runtime.conftest import Daemon, _start_daemon
from tests.runtime.event_rig import SECRET, STANDARD_FIELDS, signed_post

from .rig import (
    WEBHOOK_HOST,
    World,
    holders,
    owned_by,
    pid_of,
    replica_config,
    start_replica,
    wait_until,
    webhook_port,
)

__all__ = ["_start_daemon"]  # fixture registered by import

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.slow]

#: Seconds a lease lives without renewal; a replica renews every HEARTBEAT seconds.
TTL = 5.0
HEARTBEAT = 1.0
#: Seconds between passes of a source.
INTERVAL = 2.0
#: The longest a takeover may take: the lease expires, the next heartbeat takes it (plus a
#: generous margin for a loaded machine; this bounds a wait, it measures nothing).
TAKEOVER = TTL + HEARTBEAT + INTERVAL + 20
#: A full sync of every source on a loaded machine.
SYNCED = 120


@pytest.fixture(name="pg_url")
def _pg_url(pg_databases: Callable[[], str]) -> str:
    """A fresh PostgreSQL database at head."""
    url = pg_databases()
    upgrade(url)
    return url


@pytest.fixture(name="store")
def _store(pg_url: str) -> Iterator[Store]:
    """The test's own view of the daemons' database."""
    store = Store.from_url(pg_url)
    yield store
    store.dispose()


@pytest.fixture(name="worlds")
def _worlds() -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def make(sources: list[str], replicas: int, assets: int = 40) -> World:
        made.append(World(sources, replicas, assets))
        return made[-1]

    yield make
    for world in made:
        world.close()


def launch(start_daemon, tmp_path: Path, world: World, replica: int, url: str) -> Daemon:
    config = replica_config(
        tmp_path / f"replica-{replica}.toml",
        world,
        replica,
        url,
        ttl=TTL,
        heartbeat=HEARTBEAT,
        interval=INTERVAL,
    )
    return start_replica(start_daemon, config)


def shares(store: Store, sources: list[str], daemons: list[Daemon]) -> list[int]:
    """How many sources each daemon owns, sorted; only once every source is owned."""
    held = holders(store, sources)
    if None in held.values():
        return []
    return sorted(len(owned_by(store, sources, d)) for d in daemons)


def readyz(daemon: Daemon) -> list[dict[str, Any]]:
    """The checks of ``/readyz``, which must answer 200."""
    answer = daemon.get("/readyz")
    assert 200 == answer.status_code, answer.text
    return list(answer.json()["checks"])


def ownership_detail(daemon: Daemon) -> str:
    # The check appears with the replica's first heartbeat, which may come after the others
    # already split the sources (what the callers waited for): wait for it, bounded.
    checks = wait_until(
        lambda: [c for c in readyz(daemon) if c["name"] == "ownership"],
        30,
        "the ownership check in /readyz",
        daemon,
    )
    (check,) = checks
    assert check["ok"] is True
    return str(check["detail"])


def metric(daemon: Daemon, line_start: str) -> float:
    for line in daemon.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {line_start} in /metrics")


def lease_times(store: Store, source: str) -> tuple[datetime, datetime]:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(leases.c.acquired_at, leases.c.expires_at).where(leases.c.source == source)
        ).one()
    return (row.acquired_at, row.expires_at)


def idle_pass(daemon: Daemon) -> bool:
    """Whether a pass of ``daemon`` succeeded with nothing to write (all before it committed)."""
    finished = daemon.events("sync.pass_finished")
    return any(e["status"] == "succeeded" and e["written"] == 0 for e in finished)


def stop_between_transactions(daemon: Daemon, store: Store) -> None:
    """
    SIGSTOP ``daemon`` at a moment it has no transaction open in the store's database.

    Paused inside one, it would keep that transaction's row locks, and a replica taking its
    sources over would wait on them until it resumed: on PostgreSQL 15 nothing ends such a session
    (``idle_in_transaction_session_timeout`` is not armed while a pipelined ``executemany`` is half
    sent). These tests pause a replica between its transactions; stopping, checking and resuming
    until that holds makes the pause deterministic instead of lucky.
    """
    busy = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'"
    )
    status = Path(f"/proc/{daemon.process.pid}/status")
    deadline = time.monotonic() + 30
    while True:
        daemon.signal(signal.SIGSTOP)
        wait_until(lambda: "\tT" in status.read_text().split("State:", 1)[1][:4], 5, "the stop")
        with store.engine.connect() as conn:
            if not conn.execute(busy).scalar_one():
                return
        daemon.signal(signal.SIGCONT)
        assert time.monotonic() < deadline, "the replica never paused between transactions"
        time.sleep(0.02)


def beat_of(store: Store, daemon: Daemon) -> datetime:
    """When ``daemon``'s last heartbeat was (database clock)."""
    with store.engine.connect() as conn:
        seen = conn.execute(
            select(replicas.c.seen_at).where(replicas.c.replica.like(f"%:{daemon.process.pid}:%"))
        ).scalar()
    return seen if seen is not None else datetime.min.replace(tzinfo=UTC)


def test_two_replicas_split_the_sources_and_take_over_a_killed_ones(
    store, pg_url, worlds, start_daemon, tmp_path
):
    """3 sources on 2 replicas: 2 + 1. SIGKILL of one: the other takes its sources once their
    leases expire (never before), the PIM gets every asset, no source written twice at once."""
    sources = ["s1", "s2", "s3"]
    world = worlds(sources, replicas=2)
    a = launch(start_daemon, tmp_path, world, 0, pg_url)
    b = launch(start_daemon, tmp_path, world, 1, pg_url)
    wait_until(lambda: [1, 2] == shares(store, sources, [a, b]), 60, "a 2 + 1 split", a, b)
    wait_until(lambda: [] == world.missing(), SYNCED, "every asset of every source in the PIM")
    for daemon in (a, b):
        mine = owned_by(store, sources, daemon)
        assert ownership_detail(daemon).startswith(f"owns {len(mine)} of 3 sources")
        assert 2 == metric(daemon, "damsync_replicas_live")

    victim, survivor = (a, b) if len(owned_by(store, sources, a)) == 2 else (b, a)
    lost = owned_by(store, sources, victim)
    victim.kill()
    expired = {s: lease_times(store, s)[1] for s in lost}
    wait_until(
        lambda: sources == owned_by(store, sources, survivor), TAKEOVER, "the takeover", survivor
    )
    for source in lost:
        acquired, _ = lease_times(store, source)
        assert acquired >= expired[source], f"{source} taken over before its lease expired"
    owned = {e["source"] for e in survivor.events("sync.source_owned")}
    assert set(lost) <= owned

    world.tick()  # the DAM changes after the takeover: the survivor syncs every source
    wait_until(lambda: [] == world.missing(), SYNCED, "the PIM equal to the DAM again")
    assert [] == world.log.overlaps()
    assert set(lost) <= {e["source"] for e in victim.events("sync.source_owned")}


def test_three_replicas_share_two_sources_and_the_idle_one_is_ready(
    store, pg_url, worlds, start_daemon, tmp_path
):
    """2 sources on 3 replicas: one each for two, none for the third, which is ready and says
    it owns 0; when an owner dies, its source goes to a replica that had none or one."""
    sources = ["s1", "s2"]
    world = worlds(sources, replicas=3)
    daemons = [launch(start_daemon, tmp_path, world, i, pg_url) for i in range(3)]
    wait_until(
        lambda: [0, 1, 1] == shares(store, sources, daemons), 60, "a 1 + 1 + 0 split", *daemons
    )
    (idle,) = [d for d in daemons if not owned_by(store, sources, d)]
    assert "owns 0 of 2 sources" == ownership_detail(idle)
    assert {c["name"]: c["ok"] for c in readyz(idle)} == {
        "database": True,
        "schema": True,
        "ownership": True,
        "source:s1": True,
        "source:s2": True,
    }
    assert 0 == metric(idle, 'damsync_source_owned{source="s1"}')
    # Counted at the idle replica's heartbeat: its first may have seen only the two before it.
    wait_until(lambda: 3 == metric(idle, "damsync_replicas_live"), 30, "3 live replicas", idle)
    wait_until(lambda: [] == world.missing(), SYNCED, "every asset of both sources in the PIM")

    victim = next(d for d in daemons if d is not idle)
    (lost,) = owned_by(store, sources, victim)
    victim.kill()
    alive = [d for d in daemons if d is not victim]
    wait_until(lambda: [1, 1] == shares(store, sources, alive), TAKEOVER, "a 1 + 1 split again")
    assert pid_of(holders(store, [lost])[lost]) != victim.process.pid
    world.tick()
    wait_until(lambda: [] == world.missing(), SYNCED, "the PIM equal to the DAM again")
    assert [] == world.log.overlaps()


def test_a_stale_owner_resumed_after_a_takeover_has_its_writes_refused(
    store, pg_url, worlds, start_daemon, tmp_path
):
    """A is paused (SIGSTOP) with its first batch written to the PIM but not committed; B takes
    the source over and syncs it; A resumed (SIGCONT) commits nothing: the fence refuses its
    batch, its pass ends failed, its run recorded nothing, and B keeps the source."""
    world = worlds(["s1"], replicas=2, assets=12)
    world.log.opened[0].clear()  # A's bulk PATCHes wait at the PIM's door
    a = launch(start_daemon, tmp_path, world, 0, pg_url)
    wait_until(world.log.parked[0].is_set, 60, "A's first write at the PIM", a)
    stop_between_transactions(a, store)
    try:
        world.log.opened[0].set()  # the PIM applies A's write; A, paused, never sees the answer
        b = launch(start_daemon, tmp_path, world, 1, pg_url)
        wait_until(lambda: ["s1"] == owned_by(store, ["s1"], b), TAKEOVER, "B taking s1", b)
        wait_until(lambda: [] == world.missing(), SYNCED, "B's full sync of s1")
        wait_until(lambda: idle_pass(b), SYNCED, "a pass of B with nothing left to write")
        epoch = store.load_checkpoint("s1").epoch
        cursor = store.load_checkpoint("s1").cursor
    finally:
        a.signal(signal.SIGCONT)

    def refused() -> list[dict[str, object]]:
        return [e for e in a.events("sync.pass_failed") if "LeaseLostError" in str(e["error"])]

    (line,) = wait_until(refused, 60, "A's batch refused by the fence", a)[:1]
    assert "is no longer current; the batch was not committed" in str(line["error"])
    a.wait_event("sync.lease_lost", timeout=30)
    checkpoint = store.load_checkpoint("s1")
    assert (epoch, cursor) == (checkpoint.epoch, checkpoint.cursor)
    (first, *_later) = sorted(store.last_runs("s1", 100), key=lambda r: r.id)
    assert "failed" == first.status  # A's run: it started first, before B existed
    assert "no longer current" in (first.error or "")
    with store.engine.connect() as conn:
        by_a = conn.execute(
            select(asset_states.c.dam_id).where(asset_states.c.run_id == first.id)
        ).all()
    assert [] == by_a  # nothing of A's refused batch was recorded
    for _ in range(2):  # two more heartbeats of A: it does not take s1 back
        last = beat_of(store, a)
        wait_until(lambda: beat_of(store, a) > last, 30, "a heartbeat of A")  # noqa: B023
    assert ["s1"] == owned_by(store, ["s1"], b)
    assert [] == world.log.overlaps()
    assert [] == world.missing()


def test_a_replica_cut_from_the_database_gives_its_source_up_and_gets_its_share_back(
    store, pg_url, worlds, start_daemon, tmp_path
):
    """A reaches PostgreSQL through a proxy; cut, its source goes to B once the lease expires
    and B syncs both; restored, A finds its lease lost, then gets one source back."""
    sources = ["s1", "s2"]
    world = worlds(sources, replicas=2)
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        a = launch(start_daemon, tmp_path, world, 0, proxied)
        b = launch(start_daemon, tmp_path, world, 1, pg_url)
        wait_until(lambda: [1, 1] == shares(store, sources, [a, b]), 60, "a 1 + 1 split")
        wait_until(lambda: [] == world.missing(), SYNCED, "every asset in the PIM")
        (lost,) = owned_by(store, sources, a)

        proxy.cut()
        wait_until(lambda: sources == owned_by(store, sources, b), TAKEOVER, "B taking all")
        world.tick()
        wait_until(lambda: [] == world.missing(), SYNCED, "B syncing both sources")
        assert a.events("sync.heartbeat_failed") or a.events("sync.lease_unrenewed")
        assert None is a.process.poll()

        proxy.restore()
        wait_until(lambda: [1, 1] == shares(store, sources, [a, b]), 60, "A's share back")
        assert lost in {e["source"] for e in a.events("sync.lease_lost")}
        world.tick()
        wait_until(lambda: [] == world.missing(), SYNCED, "the PIM equal to the DAM again")
        assert [] == world.log.overlaps()
    finally:
        proxy.close()


def test_webhooks_reach_any_replica_and_only_the_owner_consumes_them(
    store, pg_url, worlds, start_daemon, tmp_path
):
    """Each replica stores the webhooks it receives, for any source; each source's inbox is
    consumed by its owner alone, and the changes reach the PIM long before the next pass."""
    sources = ["s1", "s2"]
    world = worlds(sources, replicas=2)
    events = STANDARD_FIELDS + f'\n[sources.webhook]\nstyle = "standard"\nsecrets = ["{SECRET}"]\n'
    daemons = [
        start_replica(
            start_daemon,
            replica_config(
                tmp_path / f"replica-{i}.toml",
                world,
                i,
                pg_url,
                ttl=TTL,
                heartbeat=HEARTBEAT,
                interval=3600,  # the first pass only: later changes come as webhooks
                events=events,
            ),
        )
        for i in range(2)
    ]
    wait_until(lambda: [1, 1] == shares(store, sources, daemons), 60, "a 1 + 1 split")
    wait_until(lambda: [] == world.missing(), SYNCED, "the first passes")
    live = [a["id"] for a in world.dam_assets() if not a["deleted"] and a["type"] == "image"]
    changed = live[:3]
    for n, dam_id in enumerate(changed):
        answer = httpx.post(
            f"{world.dam_url}/_sim/mutate", json={"id": dam_id, "metadata": {"sku": f"HA-{n}"}}
        )
        answer.raise_for_status()
    assert [] != world.missing()
    with httpx.Client(timeout=30) as client:
        for source in sources:
            (owner,) = [d for d in daemons if owned_by(store, sources, d) == [source]]
            (other,) = [d for d in daemons if d is not owner]
            for dam_id in changed:  # to the replica that does not own the source
                url = f"http://{WEBHOOK_HOST}:{webhook_port(other)}/webhooks/{source}"
                body = {"type": "asset.updated", "data": {"id": dam_id}}
                answer = signed_post(client, url, body, now=int(time.time()))
                assert answer.is_success, answer.text
    wait_until(lambda: [] == world.missing(), 30, "the webhooks' changes in the PIM")
    for daemon in daemons:
        (mine,) = owned_by(store, sources, daemon)
        consumed = {e["source"] for e in daemon.events("sync.inbox_consumed")}
        assert {mine} == consumed, "only the owner consumes a source's inbox"
        assert 1 == len([e for e in daemon.events("sync.pass_finished") if e["source"] == mine])
    assert [] == world.log.overlaps()


def test_a_stopped_replica_releases_its_sources_for_the_other_at_once(
    store, pg_url, worlds, start_daemon, tmp_path
):
    """SIGTERM: the replica hands its sources back and forgets its heartbeat row before it
    exits 0; the other takes the released leases (not expired ones)."""
    sources = ["s1", "s2"]
    world = worlds(sources, replicas=2)
    a = launch(start_daemon, tmp_path, world, 0, pg_url)
    b = launch(start_daemon, tmp_path, world, 1, pg_url)
    wait_until(lambda: [1, 1] == shares(store, sources, [a, b]), 60, "a 1 + 1 split")
    (mine,) = owned_by(store, sources, a)
    epoch = store.load_checkpoint(mine).epoch
    a.signal(signal.SIGTERM)
    assert 0 == a.wait_exit(30)
    released = [e for e in a.events("sync.source_released") if e["source"] == mine]
    assert [True] == [e["ok"] for e in released]
    with store.engine.connect() as conn:
        rows = conn.execute(select(replicas.c.replica)).scalars().all()
    assert [str(pid_of(r)) for r in rows] == [str(b.process.pid)]
    wait_until(lambda: sources == owned_by(store, sources, b), TAKEOVER, "B taking s1 and s2")
    # Released (epoch + 1, no holder), then taken (+ 1): a takeover at expiry would be + 1.
    assert epoch + 2 == store.load_checkpoint(mine).epoch
    world.tick()
    wait_until(lambda: [] == world.missing(), SYNCED, "the PIM equal to the DAM")
    assert [] == world.log.overlaps()
