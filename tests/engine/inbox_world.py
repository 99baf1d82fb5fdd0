"""
Worlds for the inbox consumer tests: the simulators behind a DAM transport with switches, and
several daemons ("processes", each with its own store connection and lease holder) open at once
on one state database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.core.events import DamEvent, EventKind
from daemon.engine.inbox_consumer import ConsumeReport, InboxOptions, consume_inbox
from daemon.service.part_options import backoff_policy
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import Store
from tests.engine.conftest import ROOT, Clock, World

#: Fast options: small claims, a short claim, backoff of 10 s doubled per attempt.
FAST = InboxOptions(claim_batch=50, claim_seconds=30, max_attempts=5, retry_base=10, retry_max=60)


class DamSwitches(httpx.AsyncBaseTransport):
    """
    The DAM simulator with switches on its fetch by id (``GET /generic/assets?ids=``).

    ``fetches`` records the ids of every fetch; ``hard_deletes`` makes the DAM forget deleted
    assets (a fetch no longer returns their tombstones, as DAMs that purge do); ``hold``, when
    set, keeps every fetch waiting until it is set (``entered`` says one is waiting).
    """

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app)
        self.fetches: list[list[str]] = []
        self.hard_deletes = False
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get("ids")
        if ids is None:
            return await self.inner.handle_async_request(request)
        self.fetches.append(ids.split(","))
        if self.hold is not None:
            self.entered.set()
            await self.hold.wait()
        response = await self.inner.handle_async_request(request)
        if not self.hard_deletes:
            return response
        body = json.loads(await response.aread())
        body["items"] = [i for i in body["items"] if not i["deleted"]]
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, json=body)


@dataclass
class Daemons:
    """Daemons on one state database sharing one DAM and one PIM; all stay open until closed."""

    tmp_path: Path
    url: str
    clock: Clock = field(default_factory=Clock)
    opened: list[World] = field(default_factory=list)
    dam_app: Any = None
    pim_app: Any = None
    switches: DamSwitches | None = None

    def __post_init__(self) -> None:
        self.dam_app = create_dam_app(
            DamSimOptions(assets=12, seed=7, history_days=2, base_url="http://127.0.0.1:8082"),
            clock=self.clock,
        )
        self.pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
        self.switches = DamSwitches(self.dam_app)

    async def open(self, text: str, *, holder: str | None = None) -> World:
        """A daemon running ``text`` with its own store connection (and lease ``holder``)."""
        path = self.tmp_path / f"damsync{len(self.opened)}.toml"
        path.write_text(text)
        settings = load_settings(
            path,
            {
                "DAMSYNC_STORE__URL": self.url,
                "DAMSYNC_PIM__HTTP__RETRY__ATTEMPTS": "2",
                "DAMSYNC_PIM__HTTP__RETRY__WAIT_INITIAL": "0.01",
                "DAMSYNC_PIM__HTTP__RETRY__WAIT_MAX": "0.02",
            },
        )
        # The store's clock is the world's: rows become due, and are finished, on it.
        store = Store.from_url(
            self.url, backoff=backoff_policy(settings.failures), clock=self.clock
        )
        created = Services.create(settings, registry=CollectorRegistry())
        created.store.dispose()
        services = Services(store=store, metrics=created.metrics, registry=created.registry)
        services.store.upgrade()
        clocks: dict[str, Callable[[], float]] = {
            e.name: (lambda: self.clock.now.timestamp()) for e in settings.sources
        }
        assert self.switches is not None
        app = SyncApp.build(
            settings,
            services,
            pim_transport=httpx.ASGITransport(self.pim_app),
            source_transports={e.name: self.switches for e in settings.sources},
            source_clocks=clocks,
        )
        if holder is not None:
            for runner in app.runners:
                runner.holder = holder
        await app.start()
        dam = httpx.AsyncClient(transport=httpx.ASGITransport(self.dam_app), base_url="http://dam")
        pim = httpx.AsyncClient(transport=httpx.ASGITransport(self.pim_app), base_url="http://pim")
        world = World(app, services, settings, self.clock, dam, pim)
        self.opened.append(world)
        return world

    async def close(self) -> None:
        for world in self.opened:
            await world.dam.aclose()
            await world.pim.aclose()
            await world.app.aclose()
            world.services.store.dispose()


@pytest.fixture(name="daemons")
async def _daemons(tmp_path: Path) -> AsyncIterator[Daemons]:
    """Daemons on a SQLite state database."""
    daemons = Daemons(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    yield daemons
    await daemons.close()


@pytest.fixture(
    name="any_daemons", params=["sqlite", pytest.param("pg", marks=pytest.mark.postgres)]
)
async def _any_daemons(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Daemons]:
    """Daemons on each backend (SQLite, and PostgreSQL from DAMSYNC_TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_databases")()
    daemons = Daemons(tmp_path, url)
    yield daemons
    await daemons.close()


@pytest.fixture(name="pg_daemons")
async def _pg_daemons(tmp_path: Path, pg_databases: Callable[[], str]) -> AsyncIterator[Daemons]:
    """Daemons on a fresh PostgreSQL database."""
    daemons = Daemons(tmp_path, pg_databases())
    yield daemons
    await daemons.close()


def event(event_id: str, dam_ids: list[str], kind: EventKind, received_at: datetime) -> DamEvent:
    """A webhook event of the ``demo`` source."""
    return DamEvent(
        source="demo",
        event_id=event_id,
        dam_ids=tuple(dam_ids),
        kind=kind,
        received_at=received_at,
        origin="webhook",
    )


class FetchSpy:
    """A source that records the ids of every ``fetch`` and delegates everything to ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.sorted_by_cursor = inner.sorted_by_cursor
        self.asked: list[list[str]] = []

    async def fetch(self, ids: Any) -> Any:
        self.asked.append(list(ids))
        return await self.inner.fetch(ids)

    async def server_now(self) -> datetime:
        return await self.inner.server_now()  # type: ignore[no-any-return]

    def changes(self, window: Any) -> Any:
        return self.inner.changes(window)

    def all_ids(self) -> Any:
        return self.inner.all_ids()


class Latencies:
    """An event observer that keeps what it is told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[float], ConsumeReport]] = []

    def events_consumed(self, source: str, latencies: Any, report: ConsumeReport) -> None:
        self.seen.append((source, list(latencies), report))


async def consume(
    world: World,
    options: InboxOptions = FAST,
    *,
    holder: str | None = None,
    observer: Latencies | None = None,
    source: Any = None,
) -> ConsumeReport:
    """One consume of the world's ``demo`` source, on the world's clock."""
    runner = world.runner
    return await consume_inbox(
        source or runner.source,
        runner.processor,
        world.services.store,
        options,
        holder=holder or runner.holder,
        lease_ttl=runner.options.lease_ttl,
        batch_size=runner.options.batch_size,
        observer=observer,
        clock=world.clock,
    )


def leftover(world: World, source: str = "demo") -> int:
    """How many rows any consumer could still claim, however late (pending or claimed)."""
    store = world.services.store
    far = world.clock.now.replace(year=world.clock.now.year + 10)
    rows = store.claim_events(source, "auditor:1:1", limit=10_000, claim_seconds=1, now=far)
    return len(rows)
