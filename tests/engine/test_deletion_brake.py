"""One brake for every path: mass withdrawals wait in the pending table for an operator."""

from __future__ import annotations

import pytest

from daemon.engine.withdrawals import settle_pending
from daemon.mapping import sanitise_code
from tests.engine.convergence_world import _worlds, config, images, mutate
from tests.store.conftest import _pg_databases

__all__ = ["_pg_databases", "_worlds"]  # the fixtures, by name


async def settle_and_check(world, victims) -> None:
    """Approve the first pending deletion, reject the others; the PIM follows each decision."""
    store = world.services.store
    pending = store.pending_deletions("demo")
    codes = [sanitise_code(v["id"]) for v in victims]
    assert sorted(codes) == sorted(p.code for p in pending)
    present = await world.pim_assets("packshots")
    assert all(c in present for c in codes)
    by_code = {p.code: p.id for p in pending}
    approved = await settle_pending(world.runner.processor, [by_code[codes[0]]], approve=True)
    rejected = await settle_pending(
        world.runner.processor, [by_code[c] for c in codes[1:]], approve=False
    )
    assert (1, len(codes) - 1) == (approved, rejected)
    assert [] == store.pending_deletions("demo")
    left = await world.pim_assets("packshots")
    assert codes[0] not in left
    assert all(c in left for c in codes[1:])
    actions = {o.code: o.action for o in store.owned_assets("demo")}
    assert ["deleted", *["kept"] * (len(codes) - 1)] == [actions[c] for c in codes]


@pytest.mark.parametrize(("share", "count"), [(1.0, 1), (0.2, 100_000)], ids=["count", "share"])
async def test_the_brake_holds_a_burst_of_tombstones_from_the_feed(worlds, share, count):
    """Tombstones over the share or count of a family wait as pending deletions, then settle."""
    world = await worlds.open(config("delete", share=share, count=count))
    await world.runner.run_once()
    victims = (await images(world))[:3]
    for victim in victims:
        await mutate(world, victim["id"], deleted=True)
    result = await world.runner.run_once()
    assert 0 == result.deleted
    gauge = world.services.metrics.deletions_pending.labels("demo")._value.get()
    assert 3 == gauge
    await settle_and_check(world, victims)


async def test_the_brake_holds_the_sweep_too(worlds):
    """Hard deletes found by the reconcile sweep wait in the same pending table."""
    world = await worlds.open(config("delete", count=1))
    await world.runner.run_once()
    victims = (await images(world))[:2]
    for victim in victims:
        await mutate(world, victim["id"], deleted=True, updated_at="2020-01-01T00:00:00Z")
    assert 0 == (await world.runner.run_once()).deleted  # the feed does not show them
    await world.runner.reconcile()
    await settle_and_check(world, victims)


async def test_a_small_deletion_passes_the_brake(worlds):
    """One tombstone within the limits is applied at once: the brake holds bursts only."""
    world = await worlds.open(config("delete", share=0.5, count=2))
    await world.runner.run_once()
    victim = (await images(world))[0]
    await mutate(world, victim["id"], deleted=True)
    assert 1 == (await world.runner.run_once()).deleted
    assert [] == world.services.store.pending_deletions("demo")
