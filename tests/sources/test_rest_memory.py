"""Reading a window keeps memory O(page): the de-duplication state is bounded by ties."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from daemon.core.records import DamAsset, Window
from daemon.sources import build_source, load_source_settings
from daemon.sources.rest import RestSource
from daemon.sources.rest_paging import BoundaryDedupe
from tests.sources.fakedam import BASE, FakeDam, rest_table

TIES = 4


@pytest.mark.slow
@pytest.mark.parametrize("style", ["cursor", "next_url", "link"])
async def test_a_20000_asset_window_keeps_the_dedupe_state_bounded(style):
    """Token paging through 20,000 assets holds at most the ids sharing one timestamp."""
    assets = {f"a{i:05d}": BASE + timedelta(milliseconds=i // TIES) for i in range(20_000)}
    dam = FakeDam(assets, now=BASE + timedelta(days=1))
    table = rest_table(style)
    table["rest"]["paging"]["page_size"] = 500  # type: ignore[index]
    source = build_source(
        "fake", load_source_settings(table), transport=httpx.MockTransport(dam.handler)
    )
    count = 0
    try:
        async for page in source.changes(Window(None, dam.now)):
            count += len(page.assets)
    finally:
        await source.aclose()
    assert 20_000 == count
    assert isinstance(source, RestSource)
    assert TIES == source.window_dedupe.peak


def test_a_repeat_at_the_boundary_is_dropped_and_an_older_one_passes():
    """Only a repeat at the newest timestamp is dropped; the state then forgets older ids."""

    def asset(asset_id: str, seconds: int) -> DamAsset:
        return DamAsset(
            id=asset_id, updated_at=BASE + timedelta(seconds=seconds), deleted=False, metadata={}
        )

    dedupe = BoundaryDedupe()
    firsts = [dedupe.first_time(asset(i, s)) for i, s in [("a", 1), ("b", 1), ("a", 1)]]
    assert [True, True, False] == firsts
    assert [True, False, True] == [
        dedupe.first_time(asset("c", 2)),
        dedupe.first_time(asset("c", 2)),
        dedupe.first_time(asset("a", 1)),
    ]
    assert 1 == len(dedupe)
