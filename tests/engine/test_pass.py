"""One pass end to end, in-process: DAM simulator -> engine -> PIM simulator."""

from __future__ import annotations

import io
import json
import math
from datetime import timedelta

from daemon.core.records import DamAsset
from daemon.mapping import sanitise_code
from daemon.telemetry import logs

BULK = "PATCH /api/rest/v1/asset-families/{family}/assets"
UPLOAD = "POST /api/rest/v1/asset-media-files"


def expected_codes(dam) -> tuple[set[str], set[str]]:
    live = [a for a in dam if not a["deleted"]]
    images = {sanitise_code(a["id"]) for a in live if a["type"] == "image"}
    pdfs = {sanitise_code(f"notice_{a['id']}") for a in live if a["type"] == "pdf"}
    return images, pdfs


async def assert_pim_equals_dam(world) -> None:
    dam = await world.dam_assets()
    images, pdfs = expected_codes(dam)
    packshots = await world.pim_assets("packshots")
    notices = await world.pim_assets("notices")
    assert (images, pdfs) == (set(packshots), set(notices))
    by_code = {sanitise_code(a["id"]): a for a in dam if a["type"] == "image"}
    for code, item in packshots.items():
        titles = {v["locale"]: v["data"] for v in item["values"]["title"]}
        expected = {k: v.strip() for k, v in by_code[code]["metadata"]["title"].items()}
        assert {k: expected[k] for k in titles} == titles
        assert item["values"]["media"][0]["data"]


async def test_first_pass_writes_every_live_asset_in_full_bulk_requests(world):
    """Every live DAM asset reaches the PIM, with ceil(N/100) PATCHes per family."""
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    await assert_pim_equals_dam(world)
    images, pdfs = expected_codes(await world.dam_assets())
    stats = await world.pim_stats()
    assert math.ceil(len(images) / 100) + math.ceil(len(pdfs) / 100) == world.count(stats, BULK)
    assert len(images) + len(pdfs) == result.written


async def test_second_pass_writes_nothing(world):
    """An unchanged DAM costs no PIM request at all: no write, no upload, no structure read."""
    await world.runner.run_once()
    await world.reset_stats()
    result = await world.runner.run_once()
    stats = await world.pim_stats()
    assert (0, 0) == (result.written, result.failed)
    assert {} == {k: v for k, v in stats["requests"].items() if "/_sim" not in k}


async def test_changes_additions_and_deletions_all_arrive(world):
    """After DAM ticks (with equal-timestamp bursts), the PIM equals the DAM again."""
    await world.runner.run_once()
    for _ in range(3):
        tick = await world.tick()
        assert tick["changed"]
        result = await world.runner.run_once()
        assert 0 == result.failed, result.error
    await assert_pim_equals_dam(world)


async def test_unchanged_binary_is_never_uploaded_twice(world):
    """A metadata-only change re-sends the asset but reuses its media file code."""
    await world.runner.run_once()
    dam = await world.dam_assets()
    target = next(a for a in dam if a["type"] == "image" and not a["deleted"])
    await world.reset_stats()
    world.clock.advance(1)
    metadata = dict(target["metadata"], sku="SKU-CHANGED")
    await world.dam.post("/_sim/mutate", json={"id": target["id"], "metadata": metadata})
    world.clock.advance(60)
    result = await world.runner.run_once()
    stats = await world.pim_stats()
    assert (1, 1, 0) == (result.written, world.count(stats, BULK), world.count(stats, UPLOAD))
    item = (await world.pim_assets("packshots"))[sanitise_code(target["id"])]
    assert "SKU-CHANGED" == item["values"]["product_ref"][0]["data"]


async def test_bad_values_fail_alone_and_the_batch_goes_on(world):
    """A value the PIM refuses becomes a per-asset failure naming asset and field."""
    await world.runner.run_once()
    dam = await world.dam_assets()
    images = [a for a in dam if a["type"] == "image" and not a["deleted"]]
    bad, good = images[0], images[1]
    world.clock.advance(1)
    await world.dam.post(
        "/_sim/mutate",
        json={"id": bad["id"], "metadata": dict(bad["metadata"], width="twelve")},
    )
    await world.dam.post(
        "/_sim/mutate",
        json={"id": good["id"], "metadata": dict(good["metadata"], sku="SKU-NEW")},
    )
    world.clock.advance(60)
    result = await world.runner.run_once()
    assert (1, 1) == (result.written, result.failed)
    failures = world.services.store.list_failures("demo")
    assert [bad["id"]] == [f.dam_id for f in failures]
    assert "width" in failures[0].detail
    assert failures[0].permanent


async def test_cursor_reaches_the_newest_asset_read(world):
    """After a full window, the cursor stands at the newest asset read, whatever its family."""
    result = await world.runner.run_once()
    dam = [a for a in await world.dam_assets()]
    newest = max((a["updated_at"], a["id"]) for a in dam)
    checkpoint = world.services.store.load_checkpoint("demo")
    assert result.cursor == checkpoint.cursor
    assert newest[1] == checkpoint.cursor.id


async def test_dry_run_writes_nothing_and_is_not_a_success(world):
    """A dry run shows each asset's payload, writes nothing and records no success."""
    world.runner.processor.dry_run = True
    result = await world.runner.run_once()
    stats = await world.pim_stats()
    assert 0 == world.count(stats, BULK) + world.count(stats, UPLOAD)
    assert result.written == len(result.dry_run_items) > 0
    first = result.dry_run_items[0]
    assert {"dam_id", "family", "code", "values"} <= set(first)
    store = world.services.store
    checkpoint = store.load_checkpoint("demo")
    assert (None, None) == (checkpoint.cursor if checkpoint else None, store.last_success("demo"))


async def test_log_lines_carry_source_run_and_batch(world):
    """Every JSON line a batch logs names its source, run and batch."""
    dam = await world.dam_assets()
    bad = next(a for a in dam if a["type"] == "image" and not a["deleted"])
    await world.dam.post(
        "/_sim/mutate", json={"id": bad["id"], "metadata": dict(bad["metadata"], width="x")}
    )
    world.clock.advance(60)
    stream = io.StringIO()
    logs.configure("info", json=True, stream=stream)
    try:
        await world.runner.run_once()
    finally:
        logs.reset()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [e for e in lines if e["event"] == "sync.asset_failed"]
    assert [bad["id"]] == [e["asset"] for e in failed]
    assert "demo" == failed[0]["source"]
    assert failed[0]["batch_id"] >= 1
    assert failed[0]["run_id"]
    finished = next(e for e in lines if e["event"] == "sync.pass_finished")
    assert "batch_id" not in finished


async def test_an_older_copy_never_overwrites_a_newer_write(world):
    """A stale version of an asset (older updated_at than the one written) is not sent."""
    await world.runner.run_once()
    dam = await world.dam_assets()
    item = next(a for a in dam if a["type"] == "image" and not a["deleted"])
    state = world.services.store.asset_states("demo", [item["id"]])[item["id"]]
    stale = DamAsset(
        id=item["id"],
        updated_at=state.dam_updated_at - timedelta(seconds=5),
        metadata=dict(item["metadata"], sku="STALE"),
    )
    processor = world.runner.processor
    lease = world.services.store.acquire_lease("demo", "t", 60)
    report = await processor.process(
        [stale], [], lease=lease, run_id=None, cursor=None, window=None
    )
    assert (0, 1) == (report.written, report.unchanged)
    packshot = (await world.pim_assets("packshots"))[sanitise_code(item["id"])]
    assert "STALE" != packshot["values"]["product_ref"][0]["data"]


async def test_a_changed_mapping_gives_permanent_failures_a_new_chance(world):
    """Dead-lettered validation failures become due again when the mapping changes."""
    dam = await world.dam_assets()
    bad = next(a for a in dam if a["type"] == "image" and not a["deleted"])
    await world.dam.post(
        "/_sim/mutate", json={"id": bad["id"], "metadata": dict(bad["metadata"], width="x")}
    )
    world.clock.advance(60)
    await world.runner.run_once()
    store = world.services.store
    assert [True] == [f.dead_lettered for f in store.list_failures("demo")]
    await world.app.start()  # same mapping: nothing changes
    assert [True] == [f.dead_lettered for f in store.list_failures("demo")]
    mapping = world.settings.sources[0].mapping
    families = list(mapping.families)
    attributes = dict(families[0].attributes)
    del attributes["width"]
    families[0] = families[0].model_copy(update={"attributes": attributes})
    entry = world.settings.sources[0].model_copy(
        update={"mapping": mapping.model_copy(update={"families": families})}
    )
    world.app.settings = world.settings.model_copy(update={"sources": [entry]})
    await world.app.start()
    assert [False] == [f.dead_lettered for f in store.list_failures("demo")]
