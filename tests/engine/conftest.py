"""A whole world in-process: the DAM and PIM simulators, a SQLite store, the wired app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import Settings, load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from tests.folder_rig import pim_assets, pim_token

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "damsync.example.toml"


class Clock:
    """The DAM's clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    app: SyncApp
    services: Services
    settings: Settings
    clock: Clock
    dam: httpx.AsyncClient
    pim: httpx.AsyncClient

    @property
    def runner(self):
        return self.app.runners[0]

    async def pim_stats(self) -> dict[str, Any]:
        return dict((await self.pim.get("/_sim/stats")).json())

    async def reset_stats(self) -> None:
        await self.pim.post("/_sim/reset-stats")

    def count(self, stats: dict[str, Any], key: str) -> int:
        return sum(stats["requests"].get(key, {}).values())

    async def pim_assets(self, family: str) -> dict[str, Any]:
        return await pim_assets(self.pim, family)

    async def _token(self) -> str:
        return await pim_token(self.pim)

    async def dam_assets(self) -> list[dict[str, Any]]:
        return list((await self.dam.get("/_sim/assets")).json()["items"])

    async def tick(self) -> dict[str, Any]:
        self.clock.advance(1)
        answer = (await self.dam.post("/_sim/tick")).json()
        self.clock.advance(60)  # past the settle delay
        return dict(answer)


def build_world_settings(tmp_path: Path, **env: str) -> Settings:
    environ = {
        "DAMSYNC_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}",
        "DAMSYNC_RUNTIME__PID_FILE": str(tmp_path / "damsync.pid"),  # not in the working dir
        # Retries stay on, but fast: the tests inject faults, not patience.
        "DAMSYNC_PIM__HTTP__RETRY__ATTEMPTS": "3",
        "DAMSYNC_PIM__HTTP__RETRY__WAIT_INITIAL": "0.01",
        "DAMSYNC_PIM__HTTP__RETRY__WAIT_MAX": "0.05",
        "DAMSYNC_PIM__HTTP__RETRY__RETRY_AFTER_MAX": "0.05",
        "DAMSYNC_PIM__HTTP__RETRY__THROTTLE_PAUSE": "0.01",
        **env,
    }
    return load_settings(EXAMPLE, environ)


@asynccontextmanager
async def opened_world(
    settings: Settings,
    dam_app: ASGIApp,
    pim_app: ASGIApp,
    clock: Clock,
    *,
    prepare: Callable[[Services], None] | None = None,
) -> AsyncIterator[World]:
    """
    The app of ``settings`` wired to the simulators in-process, its ``demo`` source on
    ``clock``, started; ``prepare`` gets the upgraded store's services first. Closed after.
    """
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()
    if prepare is not None:
        prepare(services)
    app = SyncApp.build(
        settings,
        services,
        pim_transport=httpx.ASGITransport(pim_app),
        source_transports={"demo": httpx.ASGITransport(dam_app)},
        # The DAM's clock jumps in these tests: the source's elapsed-time clock follows it.
        source_clocks={"demo": lambda: clock.now.timestamp()},
    )
    await app.start()
    dam = httpx.AsyncClient(transport=httpx.ASGITransport(dam_app), base_url="http://dam")
    pim = httpx.AsyncClient(transport=httpx.ASGITransport(pim_app), base_url="http://pim")
    try:
        yield World(app, services, settings, clock, dam, pim)
    finally:
        await dam.aclose()
        await pim.aclose()
        await app.aclose()
        services.store.dispose()


def demo_dam(clock: Clock) -> ASGIApp:
    """The DAM simulator of the world: 230 assets, seed 7, on ``clock``."""
    options = DamSimOptions(assets=230, seed=7, history_days=2, base_url="http://127.0.0.1:8082")
    return create_dam_app(options, clock=clock)


def demo_pim() -> ASGIApp:
    """The PIM simulator of the world, on the demo seed."""
    return create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))


@pytest.fixture(name="world")
async def _world(tmp_path: Path) -> AsyncIterator[World]:
    clock = Clock()
    settings = build_world_settings(tmp_path)
    async with opened_world(settings, demo_dam(clock), demo_pim(), clock) as world:
        yield world
