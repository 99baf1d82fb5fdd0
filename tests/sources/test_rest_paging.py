"""Paging through a window while the DAM changes never loses an unchanged asset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.core.records import Window
from daemon.sources import build_source, load_source_settings
from tests.sources.fakedam import BASE, FakeDam, rest_table

STYLES = ["page", "offset", "cursor", "header_cursor", "next_url", "link"]


async def read_all(source, window) -> Any:
    got, pages = [], []
    async for page in source.changes(window):
        pages.append(page)
        got.extend(page.assets)
    return got, pages


@st.composite
def scenarios(draw) -> Any:
    n = draw(st.integers(1, 14))
    # few distinct timestamps, so ties at page and window boundaries are common
    stamps = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    assets = {f"a{i:02d}": BASE + timedelta(seconds=s) for i, s in enumerate(stamps)}
    since_s = draw(st.integers(0, 3))
    until_s = draw(st.integers(since_s + 1, 6))
    ops = draw(
        st.lists(
            st.tuples(st.sampled_from(["touch", "delete", "add"]), st.integers(0, n + 5)),
            max_size=6,
        )
    )
    return assets, since_s, until_s, ops


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(style=st.sampled_from(STYLES), scenario=scenarios())
async def test_no_unchanged_asset_is_lost_under_mutation(style, scenario):
    """Every style yields each asset that stayed unchanged in the window, once, in order."""
    assets, since_s, until_s, ops = scenario
    since, until = BASE + timedelta(seconds=since_s), BASE + timedelta(seconds=until_s)
    dam = FakeDam(assets, now=BASE + timedelta(seconds=10))
    pending = list(ops)
    touched: set[str] = set()

    def mutate(d: FakeDam) -> None:
        if not pending:
            return
        kind, index = pending.pop(0)
        asset_id = f"a{index:02d}"
        if kind == "add":
            asset_id = f"new{len(d.assets)}"
        touched.add(asset_id)
        d.touch(asset_id, deleted=kind == "delete")

    dam.on_request = mutate
    settings_ = load_source_settings(rest_table(style))
    source = build_source("fake", settings_, transport=httpx.MockTransport(dam.handler))
    try:
        got, pages = await read_all(source, Window(since, until))
    finally:
        await source.aclose()
    expected = {i for i, ts in assets.items() if since <= ts < until and i not in touched}
    ids = [a.id for a in got]
    assert set() == expected - set(ids)
    assert len(ids) == len(set(ids))
    assert all(since <= a.updated_at < until for a in got)
    assert [a.cursor for a in got] == sorted(a.cursor for a in got)


async def test_equal_timestamps_across_page_boundary_are_all_read():
    """Seven assets sharing one timestamp with pages of three are all read by offset paging."""
    assets = {f"t{i}": BASE for i in range(7)}
    dam = FakeDam(assets, now=BASE + timedelta(seconds=5))
    source = build_source(
        "fake",
        load_source_settings(rest_table("offset")),
        transport=httpx.MockTransport(dam.handler),
    )
    got, _ = await read_all(source, Window(BASE, BASE + timedelta(seconds=1)))
    await source.aclose()
    assert sorted(assets) == [a.id for a in got]


async def test_offset_paging_rereads_anchor_when_a_seen_asset_leaves():
    """A seen asset modified mid-walk makes the source re-read its anchor, losing nothing."""
    assets = {f"t{i}": BASE for i in range(7)}
    dam = FakeDam(assets, now=BASE + timedelta(seconds=5))
    done: list[int] = []

    def mutate(d):
        if not done:
            done.append(1)
            d.touch("t0")

    dam.on_request = mutate
    source = build_source(
        "fake",
        load_source_settings(rest_table("offset")),
        transport=httpx.MockTransport(dam.handler),
    )
    got, _ = await read_all(source, Window(BASE, BASE + timedelta(seconds=1)))
    await source.aclose()
    assert [f"t{i}" for i in range(7)] == [a.id for a in got]
