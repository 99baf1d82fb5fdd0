"""
Batches are cut on changed assets only: an unchanged asset is set aside before the 100-asset
cut, rides with the next batch (no PATCH of its own) and still holds the cursor until committed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from daemon.core.records import DamAsset
from daemon.engine.batcher import FamilyBatcher, Routed
from daemon.mapping import AssetKey

BULK = "PATCH /api/rest/v1/asset-families/{family}/assets"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def item(i: int, family: str, *, unchanged: bool = False) -> Routed:
    asset = DamAsset(id=f"a{i:04d}", updated_at=T0 + timedelta(seconds=i))
    return Routed(asset, AssetKey(family, asset.id), unchanged=unchanged)


def ids(batch: list[Routed]) -> list[str]:
    return [r.asset.id for r in batch]


def test_unchanged_assets_do_not_count_towards_the_cut_and_ride_with_the_next_batch():
    """Two changed assets fill a batch of two, whatever number of unchanged ones came between."""
    batcher = FamilyBatcher(max_items=2)
    assert batcher.add(item(0, "f")) is None
    assert batcher.add(item(1, "f", unchanged=True)) is None
    # a0001 waits (unflushed): the cursor may not pass it, nor a0000.
    assert batcher.safe_cursor() is None
    assert batcher.add(item(2, "f")) is None
    full = batcher.add(item(3, "f"))
    assert full is not None
    assert ["a0000", "a0002", "a0001"] == ids(full)
    assert [False, False, True] == [r.unchanged for r in full]
    # a0003 waits alone: everything read before it is flushed.
    assert item(2, "f").asset.cursor == batcher.safe_cursor()


def test_unchanged_assets_alone_make_a_batch_of_their_own_at_the_limit():
    """Memory stays O(batch): the unchanged assets are flushed alone at ``max_items``."""
    batcher = FamilyBatcher(max_items=3)
    out = [b for i in range(7) if (b := batcher.add(item(i, "f", unchanged=True)))]
    assert [["a0000", "a0001", "a0002"], ["a0003", "a0004", "a0005"]] == [ids(b) for b in out]
    assert item(5, "f").asset.cursor == batcher.safe_cursor()
    assert [["a0006"]] == [ids(b) for b in batcher.drain()]
    assert item(6, "f").asset.cursor == batcher.safe_cursor()


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), min_size=1, max_size=80),
    st.integers(min_value=1, max_value=5),
)
def test_each_family_costs_ceil_changed_over_size_batches_and_the_cursor_stays_safe(steps, size):
    """Per family ceil(changed / size) batches carry changed assets; no waiting asset is passed."""
    batcher = FamilyBatcher(max_items=size)
    flushed: set[str] = set()
    read: list[DamAsset] = []
    batches: list[list[Routed]] = []
    for i, (family, unchanged) in enumerate(steps):
        routed = item(i, family, unchanged=unchanged)
        read.append(routed.asset)
        full = batcher.add(routed)
        if full:
            batches.append(full)
            flushed.update(ids(full))
            safe = batcher.safe_cursor()
            if safe is not None:
                assert all(a.id in flushed for a in read if a.cursor <= safe)
    batches += batcher.drain()
    flushed.update(r.asset.id for b in batches for r in b)
    assert {a.id for a in read} == flushed
    assert len(read) == sum(len(b) for b in batches)  # each asset once
    assert read[-1].cursor == batcher.safe_cursor()
    for family in "abc":
        changed = sum(1 for f, u in steps if f == family and not u)
        carrying = [b for b in batches if any(r.family == family and not r.unchanged for r in b)]
        assert math.ceil(changed / size) == len(carrying)
        assert all(sum(not r.unchanged for r in b) <= size for b in carrying)


async def test_a_family_mixing_changed_and_unchanged_assets_costs_ceil_changed_patches(world):
    """
    150 images re-read, every other one changed: one bulk PATCH for the 75 changed, not two.

    Before, the batch was cut at 100 assets and its unchanged ones dropped after the cut, so
    the 75 changed images were sent in two PATCHes (50 + 25).
    """
    first = await world.runner.run_once()
    assert "succeeded" == first.status, first.error
    images = sorted(
        (a for a in await world.dam_assets() if a["type"] == "image" and not a["deleted"]),
        key=lambda a: str(a["id"]),
    )[:150]
    assert 150 == len(images)
    world.clock.advance(1)
    for i, image in enumerate(images):
        body: dict[str, object] = {"id": image["id"]}
        if i % 2 == 0:  # a changed asset; the odd ones are only touched (same content)
            body["metadata"] = dict(image["metadata"], sku=f"SKU-CHANGED-{i}")
        answer = await world.dam.post("/_sim/mutate", json=body)
        assert answer.status_code < 300, answer.text
    world.clock.advance(60)
    await world.reset_stats()
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    assert 75 == result.written
    assert result.unchanged >= 75
    stats = await world.pim_stats()
    assert 1 == world.count(stats, BULK)
    # The cursor passed every one of them: the next pass reads none of them again as changed.
    again = await world.runner.run_once()
    assert (0, 0) == (again.written, again.failed)
