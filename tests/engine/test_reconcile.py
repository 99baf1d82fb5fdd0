"""Reconciliation: hard deletes that never show in the change feed still reach the PIM."""

from __future__ import annotations

import dataclasses
from typing import Any

from daemon.mapping import sanitise_code
from tests.engine.conftest import World


async def hard_delete(world: World) -> dict[str, Any]:
    """Delete one image with a timestamp older than the cursor: the change feed misses it."""
    dam = await world.dam_assets()
    victim = next(a for a in dam if a["type"] == "image" and not a["deleted"])
    answer = await world.dam.post(
        "/_sim/mutate",
        json={"id": victim["id"], "deleted": True, "updated_at": "2020-01-01T00:00:00Z"},
    )
    assert answer.status_code < 300, answer.text
    return dict(victim)


async def test_reconcile_deletes_assets_gone_from_the_dam(world):
    """An asset missing from the DAM's id listing is deleted in the PIM and flagged deleted."""
    await world.runner.run_once()
    victim = await hard_delete(world)
    world.clock.advance(60)
    assert 0 == (await world.runner.run_once()).deleted  # the feed does not show it
    assert 1 == await world.runner.reconcile()
    assert sanitise_code(victim["id"]) not in await world.pim_assets("packshots")
    state = world.services.store.asset_states("demo", [victim["id"]])[victim["id"]]
    assert state.deleted
    assert 0 == await world.runner.reconcile()


async def test_a_sweep_deleting_too_much_waits_in_the_pending_table(world):
    """Past the one deletion brake the sweep's tombstones are held: the PIM keeps everything."""
    await world.runner.run_once()
    victim = await hard_delete(world)
    withdrawer = world.runner.processor.withdrawer
    withdrawer.options = dataclasses.replace(withdrawer.options, max_count=0)
    assert 1 == await world.runner.reconcile()  # sent as a tombstone, held by the brake
    assert sanitise_code(victim["id"]) in await world.pim_assets("packshots")
    held = world.services.store.pending_deletions("demo")
    assert [sanitise_code(victim["id"])] == [p.code for p in held]


def test_the_old_sweep_fraction_is_an_alias_of_the_share(tmp_path):
    """``reconcile_max_delete_fraction`` still loads and sets ``max_delete_share``."""
    from daemon.settings.root import EngineSettings

    sync = EngineSettings.model_validate({"reconcile_max_delete_fraction": 0.5})
    assert (0.5, 0.5) == (sync.reconcile_max_delete_fraction, sync.max_delete_share)
    explicit = EngineSettings.model_validate(
        {"reconcile_max_delete_fraction": 0.5, "max_delete_share": 0.1}
    )
    assert 0.1 == explicit.max_delete_share
