"""
Worlds for the convergence tests: the simulators, a store on each backend, and a config that can
be edited and re-opened on the same DAM, PIM and store (an operator changing a code template).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import EXAMPLE, ROOT, Clock, World
from tests.store.conftest import BACKENDS

#: The packshot rule also requires ``metadata.withdrawn`` absent (so an asset can stop
#: matching) and ``metadata.move`` absent; a last rule moves images with ``move`` to notices.
MATCH = 'mime_type = ["image/*"]\n'
MATCH_MORE = (
    'mime_type = ["image/*"]\n'
    'fields = [{ field = "metadata.withdrawn", exists = false },'
    ' { field = "metadata.move", exists = false }]\n'
)
MOVED_RULE = """
[[sources.mapping.families]]
family = "notices"
code = "moved_{id}"
[sources.mapping.families.match]
mime_type = ["image/*"]
fields = [
  { field = "metadata.move", exists = true },
  { field = "metadata.withdrawn", exists = false },
]
[sources.mapping.families.attributes]
title = { path = "metadata.title" }
"""
POLICY_LINE = (
    'delete_policy = "delete"          # a DAM deletion deletes the PIM asset; or "ignore"\n'
)


def config(
    policy: str = "delete",
    *,
    share: float = 1.0,
    count: int = 100_000,
    code: str = "{id}",
    extra_sources: Iterable[str] = (),
) -> str:
    """The example config with ``policy``, a mark table, brake limits and the extra rules."""
    text = EXAMPLE.read_text()
    assert POLICY_LINE in text and MATCH in text
    sync = f'delete_policy = "{policy}"\nmax_delete_share = {share}\nmax_delete_count = {count}\n'
    text = text.replace(POLICY_LINE, sync)
    text = text.replace(
        "[sources.rest]  ", '[sources.sync.mark]\ntitle = "withdrawn"\n\n[sources.rest]  ', 1
    )
    text = text.replace(MATCH, MATCH_MORE, 1)
    text = text.replace(
        'family = "packshots"\ncode = "{id}"', f'family = "packshots"\ncode = "{code}"'
    )
    text += MOVED_RULE
    start = text.index("\n[[sources]]\n") + 1
    block = text[start:]
    for name in extra_sources:
        text += "\n" + block.replace('name = "demo"', f'name = "{name}"', 1)
    return text


@dataclass
class Worlds:
    """Opens worlds on one backend; ``reopen`` keeps the DAM, the PIM and the store."""

    tmp_path: Path
    url: str
    clock: Clock = field(default_factory=Clock)
    opened: list[World] = field(default_factory=list)
    dam_app: Any = None
    pim_app: Any = None

    def __post_init__(self) -> None:
        self.dam_app = create_dam_app(
            DamSimOptions(assets=12, seed=7, history_days=2, base_url="http://127.0.0.1:8082"),
            clock=self.clock,
        )
        self.pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))

    async def open(self, text: str) -> World:
        """A world running ``text`` on this backend's store and the shared simulators."""
        if self.opened:
            await self.opened[-1].app.aclose()
        path = self.tmp_path / f"damsync{len(self.opened)}.toml"
        path.write_text(text)
        settings = load_settings(
            path,
            {
                "DAMSYNC_STORE__URL": self.url,
                "DAMSYNC_PIM__HTTP__RETRY__ATTEMPTS": "3",
                "DAMSYNC_PIM__HTTP__RETRY__WAIT_INITIAL": "0.01",
                "DAMSYNC_PIM__HTTP__RETRY__WAIT_MAX": "0.05",
            },
        )
        services = Services.create(settings, registry=CollectorRegistry())
        services.store.upgrade()
        transports = {e.name: httpx.ASGITransport(self.dam_app) for e in settings.sources}
        clocks: dict[str, Callable[[], float]] = {
            e.name: (lambda: self.clock.now.timestamp()) for e in settings.sources
        }
        app = SyncApp.build(
            settings,
            services,
            pim_transport=httpx.ASGITransport(self.pim_app),
            source_transports=transports,
            source_clocks=clocks,
        )
        await app.start()
        dam = httpx.AsyncClient(transport=httpx.ASGITransport(self.dam_app), base_url="http://dam")
        pim = httpx.AsyncClient(transport=httpx.ASGITransport(self.pim_app), base_url="http://pim")
        world = World(app, services, settings, self.clock, dam, pim)
        self.opened.append(world)
        return world

    async def close(self) -> None:
        for index, world in enumerate(self.opened):
            await world.dam.aclose()
            await world.pim.aclose()
            if index == len(self.opened) - 1:
                await world.app.aclose()
            world.services.store.dispose()


@pytest.fixture(name="worlds", params=BACKENDS)
async def _worlds(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Worlds]:
    """Worlds on each backend (SQLite, and PostgreSQL from DAMSYNC_TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_databases")()
    worlds = Worlds(tmp_path, url)
    yield worlds
    await worlds.close()


async def images(world: World) -> list[dict[str, Any]]:
    """The DAM's live images, in id order."""
    found = [a for a in await world.dam_assets() if a["type"] == "image" and not a["deleted"]]
    return sorted(found, key=lambda a: str(a["id"]))


async def mutate(world: World, asset_id: str, **body: Any) -> None:
    """Change one DAM asset now (its change reaches the next pass)."""
    answer = await world.dam.post("/_sim/mutate", json={"id": asset_id, **body})
    assert answer.status_code < 300, answer.text
    world.clock.advance(60)  # past the settle delay
