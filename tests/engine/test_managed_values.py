"""Managed values end to end: the PIM converges to the DAM, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import update

from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store.tables import asset_states
from tests.engine.conftest import EXAMPLE, ROOT, Clock, World
from tests.store.conftest import BACKENDS, _pg_databases  # noqa: F401 - the fixture, by name

DESCRIPTION = 'description = { path = "metadata.description" }'
KEEP_DESCRIPTION = 'description = { path = "metadata.description", clear_missing = false }'


@dataclass
class Sims:
    """What outlives one app: the simulators, their clock and the state database."""

    url: str
    clock: Clock
    dam_app: Any
    pim_app: Any


def _sims(url: str) -> Sims:
    clock = Clock()
    dam_app = create_dam_app(
        DamSimOptions(assets=12, seed=7, history_days=2, base_url="http://127.0.0.1:8082"),
        clock=clock,
    )
    pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    return Sims(url, clock, dam_app, pim_app)


async def _open_world(tmp_path: Path, sims: Sims, config: str) -> World:
    path = tmp_path / "damsync.toml"
    path.write_text(config)
    settings = load_settings(
        path,
        {
            "DAMSYNC_STORE__URL": sims.url,
            "DAMSYNC_PIM__HTTP__RETRY__ATTEMPTS": "3",
            "DAMSYNC_PIM__HTTP__RETRY__WAIT_INITIAL": "0.01",
            "DAMSYNC_PIM__HTTP__RETRY__WAIT_MAX": "0.05",
        },
    )
    clock = sims.clock
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()
    app = SyncApp.build(
        settings,
        services,
        pim_transport=httpx.ASGITransport(sims.pim_app),
        source_transports={"demo": httpx.ASGITransport(sims.dam_app)},
        source_clocks={"demo": lambda: clock.now.timestamp()},
    )
    await app.start()
    dam = httpx.AsyncClient(transport=httpx.ASGITransport(sims.dam_app), base_url="http://dam")
    pim = httpx.AsyncClient(transport=httpx.ASGITransport(sims.pim_app), base_url="http://pim")
    return World(app, services, settings, clock, dam, pim)


async def _close(world: World) -> None:
    await world.dam.aclose()
    await world.pim.aclose()
    await world.app.aclose()
    world.services.store.dispose()


@pytest.fixture(name="open_world", params=BACKENDS)
async def _open_world_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """
    Builds a world on each backend with the example config (optionally edited); ``after``
    closes that world and restarts damsync over its simulators and database (a reload).
    """
    opened: dict[int, tuple[World, Sims]] = {}

    async def make(config: str = EXAMPLE.read_text(), after: World | None = None) -> World:
        if after is not None:
            previous, sims = opened.pop(id(after))
            await _close(previous)
        elif request.param == "sqlite":
            sims = _sims(f"sqlite:///{tmp_path / 'state.db'}")
        else:
            sims = _sims(request.getfixturevalue("pg_databases")())
        world = await _open_world(tmp_path, sims, config)
        opened[id(world)] = (world, sims)
        return world

    yield make
    for world, _ in opened.values():
        await _close(world)


async def _first_image(world: World) -> dict[str, Any]:
    """Sync everything once and pick a live image whose description has every locale."""
    result = await world.runner.run_once()
    assert 0 == result.failed, result.error
    dam = await world.dam_assets()
    return next(a for a in dam if a["type"] == "image" and not a["deleted"])


async def _change(world: World, target: dict[str, Any], **metadata: Any) -> Any:
    """Change some metadata of one DAM asset and run a pass over it."""
    world.clock.advance(1)
    answer = await world.dam.post("/_sim/mutate", json={"id": target["id"], "metadata": metadata})
    assert 200 == answer.status_code, answer.text
    world.clock.advance(60)  # past the settle delay
    return await world.runner.run_once()


async def _values(world: World, target: dict[str, Any]) -> dict[str, Any]:
    """The PIM asset's values as {attribute: {(locale, channel): data}}."""
    item = (await world.pim_assets("packshots"))[sanitise_code(target["id"])]
    return {
        attr: {(v["locale"], v["channel"]): v["data"] for v in values}
        for attr, values in item["values"].items()
    }


async def test_a_cleared_description_is_erased(open_world):
    """A description removed in the DAM is erased in the PIM; the other values stay."""
    world = await open_world()
    target = await _first_image(world)
    before = await _values(world, target)
    result = await _change(world, target, description=None)
    after = await _values(world, target)
    assert (1, 0) == (result.written, result.failed), result.error
    assert (None, before["title"]) == (after.get("description"), after["title"])


async def test_an_emptied_tag_list_is_erased(open_world):
    """Tags emptied in the DAM are erased in the PIM."""
    world = await open_world()
    target = await _first_image(world)
    assert (await _values(world, target))["tags"]
    result = await _change(world, target, tags=[])
    assert (1, 0, None) == (
        result.written,
        result.failed,
        (await _values(world, target)).get("tags"),
    )


async def test_a_localizable_value_removed_for_one_locale_erases_only_that_locale(open_world):
    """Dropping the French description erases fr_FR and keeps en_US and de_DE."""
    world = await open_world()
    target = await _first_image(world)
    kept = {k: v for k, v in target["metadata"]["description"].items() if k != "fr_FR"}
    await _change(world, target, description=kept)
    expected = {(loc, None): text for loc, text in kept.items()}
    assert expected == (await _values(world, target))["description"]


async def test_a_value_set_in_the_pim_on_an_unmapped_attribute_survives(open_world):
    """A PIM user's value on dam_url (not mapped) survives while the description is erased."""
    world = await open_world()
    target = await _first_image(world)
    code = sanitise_code(target["id"])
    token = await world._token()
    answer = await world.pim.patch(
        f"/api/rest/v1/asset-families/packshots/assets/{code}",
        json={
            "code": code,
            "values": {"dam_url": [{"locale": None, "channel": None, "data": "x"}]},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert 204 == answer.status_code, answer.text
    await _change(world, target, description=None)
    after = await _values(world, target)
    assert ({(None, None): "x"}, None) == (after.get("dam_url"), after.get("description"))


async def test_clear_missing_false_keeps_the_old_value(open_world):
    """With clear_missing = false the description stays while the emptied tags are erased."""
    world = await open_world(EXAMPLE.read_text().replace(DESCRIPTION, KEEP_DESCRIPTION))
    target = await _first_image(world)
    before = await _values(world, target)
    result = await _change(world, target, description=None, tags=[])
    after = await _values(world, target)
    assert (1, 0) == (result.written, result.failed), result.error
    assert (before["description"], None) == (after.get("description"), after.get("tags"))


async def test_an_empty_string_is_no_value_not_a_failure(open_world):
    """An empty description string erases the description instead of failing the asset."""
    world = await open_world()
    target = await _first_image(world)
    result = await _change(world, target, description="")
    assert (1, 0, []) == (
        result.written,
        result.failed,
        [f.detail for f in world.services.store.list_failures("demo")],
    )
    assert None is (await _values(world, target)).get("description")


async def test_rows_from_before_the_upgrade_erase_nothing_then_record_their_keys(open_world):
    """A NULL managed set erases nothing on its first write, which records the keys it wrote."""
    world = await open_world()
    target = await _first_image(world)
    store = world.services.store
    with store.engine.begin() as conn:
        conn.execute(update(asset_states).values(managed_values=None))
    before = await _values(world, target)
    await _change(world, target, description=None)
    first = await _values(world, target)
    managed = store.asset_states("demo", [target["id"]])[target["id"]].managed_values
    assert (before["description"], True) == (first.get("description"), managed is not None)
    assert {("title", "en_US", None), ("tags", None, None)} <= managed
    assert not any(attr == "description" for attr, _, _ in managed)
    await _change(world, target, tags=[])
    second = await _values(world, target)
    assert (before["description"], None) == (second.get("description"), second.get("tags"))


async def test_an_unchanged_pass_after_an_erasure_writes_nothing(open_world):
    """Once erased, an asset read again unchanged is skipped: the stored hash still matches."""
    world = await open_world()
    target = await _first_image(world)
    await _change(world, target, description=None)
    world.clock.advance(1)
    again = await world.runner.run_once()  # the lookback reads the erased asset again
    assert (0, 0, True) == (again.written, again.failed, again.unchanged >= 1)


async def test_opting_back_in_erases_a_kept_value_of_an_otherwise_unchanged_asset(open_world):
    """A value kept by clear_missing = false is erased once the option is lifted, hash or not."""
    kept = await open_world(EXAMPLE.read_text().replace(DESCRIPTION, KEEP_DESCRIPTION))
    target = await _first_image(kept)
    await _change(kept, target, description=None)
    assert (await _values(kept, target)).get("description")
    world = await open_world(after=kept)
    world.clock.advance(1)
    again = await world.runner.run_once()  # the lookback reads the unchanged asset again
    assert (1, 0, None) == (
        again.written,
        again.failed,
        (await _values(world, target)).get("description"),
    )
