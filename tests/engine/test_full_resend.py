"""Re-sending regardless of the content hash: the force flag, and a full pass from the epoch."""

from __future__ import annotations

from daemon.engine.drift_resend import FromEpoch
from daemon.engine.leasing import leased
from daemon.engine.routing import write_routed

BULK = "PATCH /api/rest/v1/asset-families/{family}/assets"


async def test_force_resends_what_the_hash_would_skip(world):
    """Unchanged assets are skipped by hash, and re-sent with force."""
    await world.runner.run_once()
    ids = [a["id"] for a in (await world.dam_assets())[:10]]
    page = await world.runner.source.fetch(ids)
    processor, store = world.runner.processor, world.services.store
    async with leased(store, "demo", world.runner.holder, 60) as lease:
        assert lease is not None
        plain = await write_routed(processor, page.assets, [], lease, batch_size=100)
        await world.reset_stats()
        forced = await write_routed(processor, page.assets, [], lease, batch_size=100, force=True)
    assert (0, 10) == (plain.written, plain.unchanged)
    assert (10, 0) == (forced.written, forced.unchanged)
    assert 2 == world.count(await world.pim_stats(), BULK)  # both families, batched


async def test_a_full_pass_resends_every_asset_and_keeps_the_cursor(world):
    """`sync --once --full`: every asset is read and written again; the cursor never goes back."""
    first = await world.runner.run_once()
    before = world.services.store.load_checkpoint("demo")
    world.runner.processor.force = True
    world.runner.store = FromEpoch(world.runner.store)
    await world.reset_stats()
    full = await world.runner.run_once()
    assert (first.written, first.written, 0) == (full.read, full.written, full.failed)
    assert 3 == world.count(await world.pim_stats(), BULK)
    assert before.cursor == world.services.store.load_checkpoint("demo").cursor
