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
