"""A PIM outage fails the pass, not the assets: nothing is parked, nothing is lost."""

from __future__ import annotations

from daemon.mapping import sanitise_code


async def test_pim_down_fails_the_pass_without_parking_assets(world):
    """With every PIM write failing, the pass fails, no asset is recorded as failed, and the
    cursor stays; once the PIM is back, one pass writes everything."""
    answer = await world.pim.put("/_sim/options", json={"fault_rate": 1.0, "fault_statuses": [503]})
    assert answer.status_code < 300, answer.text
    result = await world.runner.run_once()
    store = world.services.store
    assert "failed" == result.status
    assert [] == store.list_failures("demo")
    checkpoint = store.load_checkpoint("demo")
    assert checkpoint is None or checkpoint.cursor is None
    await world.pim.put("/_sim/options", json={"fault_rate": 0.0})
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed)
    dam = await world.dam_assets()
    images = {sanitise_code(a["id"]) for a in dam if a["type"] == "image" and not a["deleted"]}
    assert images == set(await world.pim_assets("packshots"))


async def test_crash_between_pim_write_and_commit_still_lets_a_deletion_through(world):
    """Assets written to the PIM whose batch never committed are still deleted when the DAM
    deletes them (their family and code were noted before the write)."""
    store = world.services.store
    real_commit = store.commit_batch

    def crash(*args, **kwargs):
        raise RuntimeError("killed between the PIM's answer and the commit")

    store.commit_batch = crash
    try:
        result = await world.runner.run_once()
    finally:
        store.commit_batch = real_commit
    assert "failed" == result.status
    dam = await world.dam_assets()
    victim = next(a for a in dam if a["type"] == "image" and not a["deleted"])
    assert sanitise_code(victim["id"]) in await world.pim_assets("packshots")
    world.clock.advance(1)
    await world.dam.post("/_sim/mutate", json={"id": victim["id"], "deleted": True})
    world.clock.advance(60)
    result = await world.runner.run_once()
    assert "succeeded" == result.status, result.error
    assert sanitise_code(victim["id"]) not in await world.pim_assets("packshots")
