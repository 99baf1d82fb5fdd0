"""Every example config in config/sources/ reads the DAM simulator's shape end to end."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.core.records import Window
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.dam.shapes import cloudinary_asset_id
from daemon.sources import build_source, load_source_settings

ROOT = Path(__file__).resolve().parents[2]
ENV = {"DAM_TOKEN": "demo-token", "BYNDER_TOKEN": "demo-token", "CLOUDINARY_API_SECRET": "demo"}
#: Example page sizes (200-500) would read the whole small DAM in one page: force several.
PAGE_SIZE = 40
SHAPES = ["simulator-generic", "bynder", "cloudinary"]


class Clock:
    """The DAM's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, 0, 250_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class TickingTransport(httpx.AsyncBaseTransport):
    """The simulator, ticking (1 s later) right after the listing answer number `tick_after`."""

    def __init__(self, app: Any, clock: Clock, listing_path: str, tick_after: int) -> None:
        self.inner = httpx.ASGITransport(app)
        self.sim = app.state.dam
        self.clock = clock
        self.listing_path = listing_path
        self.tick_after = tick_after
        self.listings = 0
        self.ticked: dict[str, list[str]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == self.listing_path:
            self.listings += 1
            if self.listings == self.tick_after:
                self.clock.now += timedelta(seconds=1)
                result = self.sim.store.tick(self.sim.now_us())
                self.ticked = {"changed": result.changed, "added": result.added}
                self.ticked["deleted"] = result.deleted
        return response


@dataclass
class Setup:
    source: Any
    transport: TickingTransport
    clock: Clock
    shape: str
    oracle: list[dict[str, Any]]

    def dam_id(self, record: dict[str, Any]) -> str:
        if self.shape == "cloudinary":
            sim = self.transport.sim
            return cloudinary_asset_id(sim.store, sim.store.get(int(record["id"][-6:], 10)))
        return str(record["id"])


def example(shape: str, **rest: Any) -> tuple[dict[str, Any], str]:
    table = tomllib.loads((ROOT / "config" / "sources" / f"{shape}.toml").read_text())
    entry = table["sources"][0]
    entry["rest"]["paging"]["page_size"] = PAGE_SIZE
    entry["rest"].update(rest)
    return entry, entry["rest"]["base_url"]


async def make(shape: str, *, tick_after: int = 0, assets: int = 150, **rest: Any) -> Setup:
    entry, base_url = example(shape, **rest)
    clock = Clock()
    app = create_dam_app(
        DamSimOptions(assets=assets, seed=11, history_days=1, base_url=base_url), clock=clock
    )
    # A first burst of activity, so that the DAM holds tombstones.
    clock.now += timedelta(seconds=1)
    app.state.dam.store.tick(app.state.dam.now_us())
    clock.now += timedelta(seconds=1)
    transport = TickingTransport(app, clock, entry["rest"]["changes_path"], tick_after)
    source = build_source(entry["name"], load_source_settings(entry, ENV), transport=transport)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url) as sim:
        oracle = (await sim.get("/_sim/assets")).json()["items"]
    return Setup(source, transport, clock, shape, oracle)


def shown(setup: Setup, record: dict[str, Any]) -> datetime:
    """The updated_at the shape shows (Bynder and Cloudinary: whole seconds)."""
    when = datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00"))
    return when.replace(microsecond=0) if setup.shape != "simulator-generic" else when


@pytest.mark.parametrize("shape", SHAPES)
async def test_window_yields_every_unchanged_asset_once_with_a_tick_between_pages(shape):
    """A full window read with a tick after page 2 yields each unchanged asset exactly once."""
    setup = await make(shape, tick_after=2)
    try:
        until = await setup.source.server_now()
        assert setup.clock.now.replace(microsecond=0) <= until <= setup.clock.now
        got: list[Any] = []
        async for page in setup.source.changes(Window(None, until)):
            assert [] == page.errors
            assert sorted(page.assets, key=lambda a: a.cursor) == list(page.assets)
            got.extend(page.assets)
    finally:
        await setup.source.aclose()
    touched = {i for ids in setup.transport.ticked.values() for i in ids}
    assert touched, "the tick happened while paging"
    ids = [a.id for a in got]
    assert len(ids) == len(set(ids))
    expected = {
        setup.dam_id(r): r["deleted"]
        for r in setup.oracle
        if r["id"] not in touched
        and shown(setup, r) < until
        and (shape == "simulator-generic" or not r["deleted"])
    }
    by_id = {a.id: a for a in got}
    assert expected == {i: by_id[i].deleted if i in by_id else "missing" for i in expected}
    assert all(a.updated_at < until for a in got)
    if shape == "simulator-generic":
        assert any(deleted for deleted in expected.values())


@pytest.mark.parametrize("shape", SHAPES)
async def test_binaries_download_and_match_the_dam_checksum(shape):
    """Binaries of live assets arrive complete and equal to the DAM's file (sha256)."""
    setup = await make(shape, assets=20)
    live = [r for r in setup.oracle if not r["deleted"]][:4]
    try:
        page = await setup.source.fetch([setup.dam_id(r) for r in live])
        assert [] == page.errors
        by_id = {a.id: a for a in page.assets}
        for record in live:
            digest = hashlib.sha256()
            async with setup.source.open_binary(by_id[setup.dam_id(record)]) as chunks:
                async for chunk in chunks:
                    digest.update(chunk)
            assert record["file"]["sha256"] == digest.hexdigest()
    finally:
        await setup.source.aclose()


@pytest.mark.parametrize("shape", SHAPES)
async def test_fetch_by_ids_returns_each_asset_and_names_the_unknown(shape):
    """fetch() returns the live assets asked for and a per-asset error for an unknown id."""
    setup = await make(shape, assets=30)
    live = [r for r in setup.oracle if not r["deleted"]][3:6]
    wanted = [setup.dam_id(r) for r in live]
    unknown = "a-999999" if shape != "cloudinary" else "0" * 32
    try:
        page = await setup.source.fetch([*wanted, unknown])
    finally:
        await setup.source.aclose()
    assert sorted(wanted) == sorted(a.id for a in page.assets)
    assert [(unknown, "id")] == [(e.asset_id, e.field) for e in page.errors]


@pytest.mark.parametrize("shape", SHAPES)
async def test_fetch_of_a_deleted_asset(shape):
    """A deleted asset comes back as a tombstone where the DAM lists it, else as not found."""
    setup = await make(shape, assets=60)
    gone = next(r for r in setup.oracle if r["deleted"])
    try:
        page = await setup.source.fetch([setup.dam_id(gone)])
    finally:
        await setup.source.aclose()
    if shape == "simulator-generic":
        assert [True] == [a.deleted for a in page.assets]
    else:
        assert [(setup.dam_id(gone), "id")] == [(e.asset_id, e.field) for e in page.errors]


@pytest.mark.parametrize("shape", SHAPES)
async def test_all_ids_lists_every_live_asset_once(shape):
    """all_ids() lists exactly the live assets, each once."""
    setup = await make(shape, assets=120)
    try:
        ids = [i async for batch in setup.source.all_ids() for i in batch]
    finally:
        await setup.source.aclose()
    assert len(ids) == len(set(ids))
    assert {setup.dam_id(r) for r in setup.oracle if not r["deleted"]} == set(ids)
