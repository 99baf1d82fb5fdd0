"""The inbox consumer: events re-read from the DAM and written like a pass, never lost."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from daemon.engine.leasing import leased
from daemon.mapping import sanitise_code
from tests.engine.convergence_world import config, images, mutate
from tests.engine.inbox_world import (
    FAST,
    Daemons,
    FetchSpy,
    Latencies,
    _any_daemons,
    _daemons,
    _pg_daemons,
    consume,
    event,
    leftover,
)
from tests.store.conftest import _pg_databases

__all__ = ["_any_daemons", "_daemons", "_pg_daemons", "_pg_databases"]  # the fixtures, by name

PEER = "peer-host:4242:1"


def title_of(asset) -> str:
    """The asset's English title in the PIM."""
    return str(next(v["data"] for v in asset["values"]["title"] if v["locale"] == "en_US"))


def titled(text: str) -> dict[str, dict[str, str]]:
    """DAM metadata giving an asset the English title ``text``."""
    return {"title": {"en_US": text}}


async def pim_failing(world, failing: bool) -> None:
    body = {"fault_rate": 1.0, "fault_statuses": [503]} if failing else {"fault_rate": 0.0}
    answer = await world.pim.put("/_sim/options", json=body)
    assert answer.status_code < 300, answer.text


async def synced(daemons: Daemons, text: str | None = None):
    """A daemon after its first pass, and the DAM's live images."""
    world = await daemons.open(text or config("delete"))
    await world.runner.run_once()
    return world, await images(world)


async def test_changed_events_are_written_through_the_mapping(daemons):
    """Each changed asset is fetched and written with the source's mapping; nothing else is."""
    world = await daemons.open(config("delete"))
    victims = (await images(world))[:2]
    for n, victim in enumerate(victims):
        await mutate(world, victim["id"], metadata=titled(f"  Fresh {n}  "))
    received = world.clock.now
    added = world.services.store.add_events(
        [event(f"e{n}", [v["id"]], "changed", received) for n, v in enumerate(victims)]
    )
    assert 2 == added.added
    world.clock.advance(3)
    observer = Latencies()
    report = await consume(world, observer=observer)
    assert (2, 2, 2, None) == (report.claimed, report.assets, report.written, report.error)
    assets = await world.pim_assets("packshots")
    expected = {sanitise_code(v["id"]): f"Fresh {n}" for n, v in enumerate(victims)}
    assert expected == {code: title_of(a) for code, a in assets.items()}
    assert [("demo", [3.0, 3.0])] == [(s, lat) for s, lat, _ in observer.seen]
    assert 0 == leftover(world)
    pruned = world.services.store.prune_events(world.clock.now.replace(year=2100))
    assert 2 == pruned


async def test_duplicate_events_for_one_asset_make_one_fetch_and_one_write(daemons):
    """Several events naming one asset collapse: one fetch of it and one PIM write."""
    world = await daemons.open(config("delete"))
    first, second = (await images(world))[:2]
    now = world.clock.now
    world.services.store.add_events(
        [
            event("a", [first["id"]], "changed", now),
            event("b", [first["id"], second["id"]], "changed", now),
            event("c", [first["id"]], "changed", now),
        ]
    )
    await world.reset_stats()
    spy = FetchSpy(world.runner.source)
    report = await consume(world, source=spy)
    assert (4, 2, 2) == (report.claimed, report.assets, report.written)
    assert [[first["id"], second["id"]]] == spy.asked
    assert [[first["id"], second["id"]]] == daemons.switches.fetches
    stats = await world.pim_stats()
    patches = {key: counts for key, counts in stats["requests"].items() if key.endswith("/assets")}
    assert 1 == sum(sum(c.values()) for c in patches.values()), patches


async def test_a_deleted_event_for_an_asset_gone_from_the_dam_applies_the_policy(daemons):
    """The DAM no longer returns the asset and an event said deleted: the policy deletes it."""
    world, live = await synced(daemons)
    victim = live[0]
    daemons.switches.hard_deletes = True
    await mutate(world, victim["id"], deleted=True)
    world.services.store.add_events([event("d", [victim["id"]], "deleted", world.clock.now)])
    report = await consume(world)
    assert (1, None) == (report.gone, report.error)
    assert sanitise_code(victim["id"]) not in await world.pim_assets("packshots")
    assert [] == world.services.store.list_failures("demo")
    actions = {o.code: o.action for o in world.services.store.owned_assets("demo")}
    assert "deleted" == actions[sanitise_code(victim["id"])]


async def test_a_tombstone_the_dam_returns_is_applied_whatever_the_event_said(daemons):
    """A changed event for an asset the DAM reports deleted: the DAM is the truth."""
    world, live = await synced(daemons)
    victim = live[0]
    await mutate(world, victim["id"], deleted=True)
    world.services.store.add_events([event("c", [victim["id"]], "changed", world.clock.now)])
    report = await consume(world)
    assert (1, 0) == (report.deleted, report.gone)
    assert sanitise_code(victim["id"]) not in await world.pim_assets("packshots")


@pytest.mark.parametrize(("share", "count"), [(1.0, 1), (0.2, 100_000)], ids=["count", "share"])
async def test_a_burst_of_deleted_events_waits_for_an_operator(daemons, share, count):
    """Deletions over the brake's count or share are held as pending deletions, not applied."""
    world, live = await synced(daemons, config("delete", share=share, count=count))
    victims = live[:3]
    daemons.switches.hard_deletes = True
    for victim in victims:
        await mutate(world, victim["id"], deleted=True)
    now = world.clock.now
    world.services.store.add_events(
        [event(f"d{n}", [v["id"]], "deleted", now) for n, v in enumerate(victims)]
    )
    report = await consume(world)
    assert (3, None) == (report.gone, report.error)
    codes = sorted(sanitise_code(v["id"]) for v in victims)
    pending = world.services.store.pending_deletions("demo")
    assert codes == sorted(p.code for p in pending)
    present = await world.pim_assets("packshots")
    assert all(code in present for code in codes)


async def test_a_deleted_event_for_a_live_asset_writes_it(daemons):
    """Delete then re-create, or events out of order: the DAM still has it, so it is written."""
    world, live = await synced(daemons)
    victim = live[0]
    await mutate(world, victim["id"], metadata=titled("Back again"))
    world.services.store.add_events([event("d", [victim["id"]], "deleted", world.clock.now)])
    report = await consume(world)
    assert (1, 0, 0) == (report.written, report.deleted, report.gone)
    assert "Back again" == title_of(
        (await world.pim_assets("packshots"))[sanitise_code(victim["id"])]
    )
    assert [] == world.services.store.pending_deletions("demo")


async def test_a_changed_event_for_an_asset_the_dam_lost_is_a_failure_not_a_deletion(daemons):
    """Without a deleted event, an asset the DAM does not return is never deleted."""
    world, live = await synced(daemons)
    victim = live[0]
    daemons.switches.hard_deletes = True
    await mutate(world, victim["id"], deleted=True)
    world.services.store.add_events([event("c", [victim["id"]], "changed", world.clock.now)])
    report = await consume(world)
    assert (0, 0, None) == (report.gone, report.deleted, report.error)
    assert sanitise_code(victim["id"]) in await world.pim_assets("packshots")
    failures = world.services.store.list_failures("demo")
    assert [victim["id"]] == [f.dam_id for f in failures]
    assert 0 == leftover(world)


async def test_a_pim_outage_releases_the_rows_with_backoff_until_it_recovers(daemons):
    """PIM 503s put every row back with a doubling backoff and one log line; none is lost."""
    world = await daemons.open(config("delete"))
    victims = (await images(world))[:3]
    now = world.clock.now
    world.services.store.add_events(
        [event(f"e{n}", [v["id"]], "changed", now) for n, v in enumerate(victims)]
    )
    await pim_failing(world, True)
    with capture_logs() as logs:
        report = await consume(world)
    assert (3, 3, 0) == (report.claimed, report.released, report.written)
    assert report.error is not None and "PimUnavailable" in report.error
    failed = [e for e in logs if e["event"] == "sync.inbox_consume_failed"]
    assert 1 == len(failed) and "exc_info" not in failed[0]
    assert 0 == (await consume(world)).claimed  # not due yet
    world.clock.advance(FAST.retry_base)
    assert 3 == (await consume(world)).released  # second attempt: 20 s now
    world.clock.advance(FAST.retry_base)
    assert 0 == (await consume(world)).claimed
    await pim_failing(world, False)
    world.clock.advance(FAST.retry_base)
    report = await consume(world)
    assert (3, 3, None) == (report.claimed, report.written, report.error)
    assert {sanitise_code(v["id"]) for v in victims} == set(await world.pim_assets("packshots"))
    depth = world.services.store.inbox_depth().get("demo")
    assert depth is None or (0, 0) == (depth.pending, depth.dead)


async def test_rows_are_dead_lettered_at_max_attempts(daemons):
    """A row failing ``max_attempts`` times is dead: no consumer claims it again."""
    world = await daemons.open(config("delete"))
    victim = (await images(world))[0]
    world.services.store.add_events([event("e", [victim["id"]], "changed", world.clock.now)])
    options = replace(FAST, max_attempts=2)
    await pim_failing(world, True)
    assert 1 == (await consume(world, options)).released
    world.clock.advance(options.retry_max)
    assert 1 == (await consume(world, options)).released
    world.clock.advance(options.retry_max)
    assert 0 == (await consume(world, options)).claimed
    depth = world.services.store.inbox_depth()["demo"]
    assert (0, 1) == (depth.pending, depth.dead)


@pytest.mark.parametrize("holder", [PEER, None], ids=["other-process", "this-process"])
async def test_a_busy_lease_claims_nothing(daemons, holder):
    """While another job holds the source's lease, the rows stay pending and unattempted."""
    world = await daemons.open(config("delete"))
    victim = (await images(world))[0]
    store = world.services.store
    store.add_events([event("e", [victim["id"]], "changed", world.clock.now)])
    if holder is None:  # a pass of this process: it holds the lease inside ``leased``
        async with leased(store, "demo", world.runner.holder, 600, wait=True) as lease:
            assert lease is not None
            report = await consume(world)
    else:
        lease = store.acquire_lease("demo", holder, 600)
        assert lease is not None
        report = await consume(world)
        assert store.release_lease(lease)
    assert (True, 0) == (report.lease_busy, report.claimed)
    rows = store.claim_events("demo", PEER, limit=10, claim_seconds=30, now=world.clock.now)
    assert [1] == [r.attempts for r in rows]


async def test_an_empty_inbox_takes_no_lease(daemons):
    """With nothing waiting, a consume neither takes the source's lease nor claims."""
    world = await daemons.open(config("delete"))
    store = world.services.store
    lease = store.acquire_lease("demo", PEER, 600)
    assert lease is not None
    report = await consume(world)
    assert (False, 0, None) == (report.lease_busy, report.claimed, report.error)
    assert PEER == store.lease_holder("demo")


async def test_a_cancelled_consume_gives_its_rows_back_at_once(daemons):
    """A shutdown in the middle of a consume unclaims its rows without counting an attempt."""
    world = await daemons.open(config("delete"))
    victim = (await images(world))[0]
    store = world.services.store
    store.add_events([event("e", [victim["id"]], "changed", world.clock.now)])
    switches = daemons.switches
    switches.hold = asyncio.Event()
    task = asyncio.create_task(consume(world))
    async with asyncio.timeout(10):
        await switches.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    switches.hold.set()
    switches.hold = None
    rows = store.claim_events("demo", PEER, limit=10, claim_seconds=30, now=world.clock.now)
    assert [1] == [r.attempts for r in rows]
    assert store.lease_held("demo") is None


async def test_rows_of_a_dead_consumer_are_taken_after_their_claim_expires(any_daemons):
    """A consumer killed after its claim: its rows wait for the claim's end, then are written."""
    world = await any_daemons.open(config("delete"))
    victims = (await images(world))[:2]
    store = world.services.store
    now = world.clock.now
    store.add_events([event(f"e{n}", [v["id"]], "changed", now) for n, v in enumerate(victims)])
    dead = "gone-host:99:1"
    claimed = store.claim_events("demo", dead, limit=10, claim_seconds=FAST.claim_seconds, now=now)
    assert 2 == len(claimed)
    assert 0 == (await consume(world)).claimed
    world.clock.advance(FAST.claim_seconds + 1)
    report = await consume(world)
    assert (2, 2, None) == (report.claimed, report.written, report.error)
    assert 0 == store.finish_events([r.id for r in claimed], dead)
    assert 0 == leftover(world)


@pytest.mark.postgres
async def test_two_consumers_on_postgresql_never_take_the_same_row(pg_daemons):
    """Two daemons consuming one PostgreSQL inbox at once: every row is claimed exactly once."""
    first = await pg_daemons.open(config("delete"))
    second = await pg_daemons.open(config("delete"), holder=PEER)
    live = await images(first)
    now = first.clock.now
    events = [event(f"e{n}", [a["id"]], "changed", now) for n, a in enumerate(live)]
    events += [event(f"r{n}", [a["id"]], "changed", now) for n, a in enumerate(live)]
    first.services.store.add_events(events)
    options = replace(FAST, claim_batch=3)
    claimed = 0
    for _ in range(40):
        reports = await asyncio.gather(consume(first, options), consume(second, options))
        assert [None, None] == [r.error for r in reports]
        claimed += sum(r.claimed for r in reports)
        if not any(r.claimed or r.lease_busy for r in reports):
            break
    assert len(events) == claimed
    codes = {sanitise_code(a["id"]) for a in live}
    assert codes == set(await first.pim_assets("packshots"))
    assert 0 == leftover(first)
