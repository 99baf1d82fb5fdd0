"""Pure pass planning: windows, cursor advancement, batching by count, size and family."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.core.records import Cursor, DamAsset
from daemon.engine.batcher import Batcher, FamilyBatcher, Routed
from daemon.engine.checkpoint import advance, dedupe_page, plan_window
from daemon.mapping import AssetKey

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def asset(i: int, seconds: float = 0, **kw) -> DamAsset:
    return DamAsset(id=f"a{i:04d}", updated_at=T0 + timedelta(seconds=seconds), **kw)


@pytest.mark.parametrize(
    ("cursor_s", "now_s", "previous_s", "expected"),
    [
        (None, 100, None, (None, 70)),  # first read: no lower bound
        (50, 100, None, (40, 70)),  # lookback 10 s before the cursor, settle 30 s
        (65, 100, None, (55, 70)),
        (50, 60, 70, (40, 70)),  # the DAM clock went back: the upper bound does not
        (69, 75, None, (45, 45)),  # lookback capped by the upper bound
    ],
)
def test_plan_window(cursor_s, now_s, previous_s, expected):
    """The window is [cursor - lookback, dam_now - settle), never moving its end back."""
    cursor = None if cursor_s is None else Cursor(T0 + timedelta(seconds=cursor_s), "x")
    previous = None if previous_s is None else T0 + timedelta(seconds=previous_s)
    window = plan_window(
        cursor,
        T0 + timedelta(seconds=now_s),
        lookback=timedelta(seconds=10),
        settle_delay=timedelta(seconds=30),
        previous_until=previous,
    )
    since = None if expected[0] is None else T0 + timedelta(seconds=expected[0])
    assert (since, T0 + timedelta(seconds=expected[1])) == (window.since, window.until)


def test_advance_never_goes_back_or_past_the_window():
    """The cursor only moves forward and stays below the window's upper bound."""
    until = T0 + timedelta(seconds=100)
    c50, c60 = Cursor(T0 + timedelta(seconds=50), "b"), Cursor(T0 + timedelta(seconds=60), "a")
    assert c60 == advance(c50, c60, until)
    assert c60 == advance(c60, c50, until)
    assert c50 == advance(c50, None, until)
    assert c50 == advance(c50, Cursor(until, "z"), until)
    assert Cursor(T0, "b") == advance(Cursor(T0, "a"), Cursor(T0, "b"), until)


def routed(item: DamAsset, family: str) -> Routed:
    return Routed(item, AssetKey(family, item.id))


def test_batcher_bounds_count_and_bytes():
    """A batch never holds more than max_items assets nor (beyond one) more than max_bytes."""
    batcher = Batcher(max_items=3, max_bytes=10_000)
    out = [b for i in range(7) if (b := batcher.add(Routed(asset(i))))]
    assert [3, 3] == [len(b) for b in out]
    assert 1 == len(batcher.flush())
    big = Batcher(max_items=100, max_bytes=2_000)
    fat = [asset(i, metadata={"text": "x" * 1_500}) for i in range(3)]
    out = [b for a in fat if (b := big.add(Routed(a)))]
    assert [1, 1] == [len(b) for b in out]


def test_dedupe_page_keeps_the_newest_version_in_cursor_order():
    """Duplicate ids in one page collapse to their newest version."""
    page = [asset(2, 5), asset(1, 1), asset(2, 9), asset(3, 2)]
    assert [("a0001", 1), ("a0003", 2), ("a0002", 9)] == [
        (a.id, (a.updated_at - T0).seconds) for a in dedupe_page(page)
    ]


def test_family_batcher_fills_each_family_and_holds_the_cursor():
    """Interleaved families fill separate batches; the cursor stays before any waiting asset."""
    batcher = FamilyBatcher(max_items=2)
    assets = [asset(i, i) for i in range(6)]
    families = ["a", "b", "a", "b", "b", "a"]
    flushed = []
    for item, family in zip(assets, families, strict=True):
        full = batcher.add(routed(item, family))
        if full:
            flushed.append(([r.asset.id for r in full], batcher.safe_cursor()))
    # a0000,a0002 flushed when a0005 arrives... b0001,b0003 when a0004 arrives
    assert ["a0001", "a0003"] == flushed[0][0]
    # a0000 and a0002 still wait in family "a": nothing before a0000 is safe
    assert flushed[0][1] is None
    assert ["a0000", "a0002"] == flushed[1][0]
    # a0004 waits in "b" (read after a0003), a0005 in "a" (read after a0004)
    assert assets[3].cursor == flushed[1][1]
    rest = batcher.drain()
    assert [["a0004"], ["a0005"]] == sorted([r.asset.id for r in b] for b in rest)
    assert assets[5].cursor == batcher.safe_cursor()


@given(
    st.lists(st.sampled_from("abc"), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=5),
)
def test_family_batcher_safe_cursor_never_passes_a_waiting_asset(families, size):
    """Whatever the interleaving, every asset at or below the safe cursor has been flushed."""
    batcher = FamilyBatcher(max_items=size)
    flushed: set[str] = set()
    read: list[DamAsset] = []
    for i, family in enumerate(families):
        item = asset(i, i)
        read.append(item)
        full = batcher.add(routed(item, family))
        if full:
            flushed.update(r.asset.id for r in full)
            safe = batcher.safe_cursor()
            if safe is not None:
                assert all(a.id in flushed for a in read if a.cursor <= safe)
    for batch in batcher.drain():
        flushed.update(r.asset.id for r in batch)
    assert {a.id for a in read} == flushed
    assert read[-1].cursor == batcher.safe_cursor()
