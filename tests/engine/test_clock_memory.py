"""
The DAM's clock kept between processes: a cron pass makes no clock probe, and skips nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.core.records import SourcePage, Window
from daemon.engine.clock_memory import RememberedClock, boot_id
from daemon.service.wiring import Services, SyncApp
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import DamClockReading
from tests.engine.conftest import ROOT, Clock, build_world_settings

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Inner:
    """A DAM source whose clock reads (probes) are counted."""

    name = "demo"
    sorted_by_cursor = True

    def __init__(self) -> None:
        self.now = T0
        self.probes = 0

    async def server_now(self) -> datetime:
        self.probes += 1
        return self.now

    async def changes(self, window: Window) -> AsyncIterator[SourcePage]:
        yield SourcePage(assets=[], errors=[])
        yield SourcePage(assets=[], errors=[])

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        return SourcePage(assets=[], errors=[])

    async def all_ids(self) -> AsyncIterator[Sequence[str]]:
        yield []


class Readings:
    """The state database's readings."""

    def __init__(self, reading: DamClockReading | None = None) -> None:
        self.reading = reading

    def dam_clock(self, source: str) -> DamClockReading | None:
        return self.reading

    def save_dam_clock(self, source: str, reading: DamClockReading) -> None:
        self.reading = reading


def remembered(
    readings: Readings, mono: list[float], boot: str = "boot-1"
) -> tuple[Inner, RememberedClock]:
    inner = Inner()
    clock = RememberedClock(inner, readings, max_age=300, boot=boot, monotonic=lambda: mono[0])
    return inner, clock


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (DamClockReading(T0, 1000.0, "boot-1"), T0 + timedelta(seconds=100)),
        (DamClockReading(T0, 1000.0, "boot-0"), None),  # another host or boot
        (DamClockReading(T0, 800.0, "boot-1"), None),  # 300 s old: max_age reached
        (DamClockReading(T0, 1100.5, "boot-1"), None),  # monotonic time in the future
        (None, None),
    ],
)
async def test_a_fresh_reading_of_this_boot_replaces_the_probe(reading, expected):
    """Reading + monotonic time elapsed, only on the same boot and under max_age; else a probe."""
    inner, clock = remembered(Readings(reading), [1100.0])
    now = await clock.server_now()
    if expected is None:
        assert (1, T0) == (inner.probes, now)
    else:
        assert (0, expected) == (inner.probes, now)


async def test_a_listing_read_to_its_end_stores_the_source_clock():
    """At the end of the listing the source's clock is stored; later calls ask the source."""
    readings = Readings(DamClockReading(T0, 1000.0, "boot-1"))
    mono = [1010.0]
    inner, clock = remembered(readings, mono)
    inner.now = T0 + timedelta(seconds=12)
    pages = [p async for p in clock.changes(Window(None, T0))]
    stored = readings.reading
    mono[0] = 1020.0
    await clock.server_now()
    assert 2 == len(pages)
    assert DamClockReading(T0 + timedelta(seconds=12), 1010.0, "boot-1") == stored
    assert 2 == inner.probes  # the one at the end of the listing, then the source's own


async def test_a_listing_left_early_stores_nothing():
    """A listing not read to its end (stop, deadline) leaves the stored reading as it was."""
    readings = Readings()
    _, clock = remembered(readings, [1000.0])
    pages = clock.changes(Window(None, T0))
    await anext(pages)
    await pages.aclose()
    assert None is readings.reading


def test_boot_id_is_read_or_none(tmp_path: Path):
    """The boot id of a file that names it; None where there is none."""
    named = tmp_path / "boot_id"
    named.write_text("6f1c0a2e-1b7e-4a53-9c1b-0c0e9f0c1d2e\n", encoding="ascii")
    assert "6f1c0a2e-1b7e-4a53-9c1b-0c0e9f0c1d2e" == boot_id(named)
    assert None is boot_id(tmp_path / "missing")


# --- a whole world: two processes in a row, a DAM clock ahead of or behind ours ------------


async def dam_requests(dam: httpx.AsyncClient) -> int:
    stats = (await dam.get("/_sim/stats")).json()["requests"]
    return sum(sum(v.values()) for k, v in stats.items() if "/_sim" not in k)


async def pim_requests(pim: httpx.AsyncClient) -> int:
    stats = (await pim.get("/_sim/stats")).json()["requests"]
    return sum(sum(v.values()) for k, v in stats.items() if "/_sim" not in k)


def new_process(tmp_path: Path, clock: Clock, dam_app, pim_app) -> SyncApp:
    """A SyncApp as a new process builds it, on the same database and the same host boot."""
    settings = build_world_settings(tmp_path)
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()

    def mono() -> float:
        return clock.now.timestamp()  # the DAM's clock runs in step with this host's

    app = SyncApp.build(
        settings,
        services,
        pim_transport=httpx.ASGITransport(pim_app),
        source_transports={"demo": httpx.ASGITransport(dam_app)},
        source_clocks={"demo": mono},
        remembered=True,
    )
    runner = app.runners[0]
    # An injected clock is not wrapped by the wiring (it would not run on between processes).
    runner.source = RememberedClock(
        app.sources[0], services.store, max_age=300, boot="boot-1", monotonic=mono
    )
    return app


@pytest.mark.parametrize("offset", [3600, -3600], ids=["dam-ahead", "dam-behind"])
async def test_a_new_process_plans_its_window_on_the_dam_clock_and_skips_nothing(
    tmp_path: Path, offset: int
):
    """
    The second process lists once (no probe), its window ends settle_delay before the DAM's
    true time (never later, whatever the DAM's offset from our clock), and a change made just
    before it, not settled yet, is written by the next pass.
    """
    clock = Clock()
    clock.now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=offset)
    dam_app = create_dam_app(
        DamSimOptions(assets=60, seed=3, history_days=1, base_url="http://127.0.0.1:8082"),
        clock=clock,
    )
    pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    dam = httpx.AsyncClient(transport=httpx.ASGITransport(dam_app), base_url="http://dam")
    pim = httpx.AsyncClient(transport=httpx.ASGITransport(pim_app), base_url="http://pim")
    try:
        first = new_process(tmp_path, clock, dam_app, pim_app)
        await first.start()
        assert "succeeded" == (await first.runners[0].run_once()).status
        await first.aclose()
        first.services.store.dispose()

        clock.advance(100)
        target = next(
            a for a in (await dam.get("/_sim/assets")).json()["items"] if not a["deleted"]
        )
        body = {"id": target["id"], "metadata": dict(target["metadata"], sku="SKU-LATE")}
        assert 200 == (await dam.post("/_sim/mutate", json=body)).status_code
        clock.advance(1)  # changed 1 s ago: inside the 2 s settle delay
        dam_before, pim_before = await dam_requests(dam), await pim_requests(pim)
        second = new_process(tmp_path, clock, dam_app, pim_app)
        await second.start()
        idle = await second.runners[0].run_once()
        dam_cost = await dam_requests(dam) - dam_before
        pim_cost = await pim_requests(pim) - pim_before
        clock.advance(60)
        later = await second.runners[0].run_once()
        await second.aclose()
        second.services.store.dispose()
    finally:
        await dam.aclose()
        await pim.aclose()
    assert ("succeeded", 0) == (idle.status, idle.written), idle.error
    assert (1, 0) == (dam_cost, pim_cost)
    assert idle.window is not None
    assert clock.now - timedelta(seconds=60 + 2) == idle.window.until
    assert ("succeeded", 1) == (later.status, later.written), later.error
