"""
Reconcile with several media values per asset: each value is expected to hold its own file's
media code (the asset's own binary's from its state, another file's from the media store by
checksum), so an asset in sync shows no drift and one whose locale file differs is stale.
"""

from __future__ import annotations

from typing import Any

from daemon.mapping import sanitise_code
from tests.engine.conftest import World
from tests.engine.model_world import model_world, open_model_world  # noqa: F401 (fixture)
from tests.engine.test_drift import pim_call, scan
from tests.engine.test_media_per_locale import _by_scope, _give_files

NOTICES = "/api/rest/v1/asset-families/notices/assets"


async def _manual_values(world: World, code: str) -> dict[str, Any]:
    return dict((await world.pim_assets("notices"))[code]["values"])


async def test_per_locale_and_per_channel_files_in_sync_are_no_drift(world):
    """fr_FR/de_DE hold another PDF's code and the previews images' codes: all as expected."""
    await _give_files(world)
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    summary, items = await scan(world)
    assert (0, []) == (summary.total, items["stale"])


async def test_a_locale_file_edited_in_the_pim_is_stale(world):
    """Only that asset drifts; a re-sent value puts the file's own code back."""
    files = await _give_files(world)
    await world.runner.run_once()
    code = sanitise_code(f"manual_{files['target']['id']}")
    values = await _manual_values(world, code)
    own = values["media"][0]["data"]
    manual = _by_scope(values["manual"])
    assert own != manual[("fr_FR", None)]
    assert 0 == (await scan(world))[0].total
    edit = {"manual": [{"locale": "fr_FR", "channel": None, "data": own}]}
    await pim_call(world, "PATCH", f"{NOTICES}/{code}", {"values": edit})
    summary, items = await scan(world)
    assert ([files["target"]["id"]], 1) == (items["stale"], summary.total)


async def test_the_dam_simulators_localized_files_reconcile_after_a_new_file(tmp_path):
    """
    After a re-upload en_US holds the new binary and fr_FR/de_DE the first one: in sync, no
    drift; a channel rendition swapped in the PIM is.
    """
    async with open_model_world(tmp_path, localized_files=True) as world:
        await world.runner.run_once()
        live = [a for a in await world.dam_assets() if not a["deleted"]]
        pdf = next(a for a in live if a["type"] == "pdf")
        image = next(a for a in live if a["type"] == "image")
        for item in (pdf, image):
            world.clock.advance(1)
            await world.dam.post("/_sim/mutate", json={"id": item["id"], "new_file": True})
        world.clock.advance(60)
        result = await world.runner.run_once()
        assert (2, 0) == (result.written, result.failed), result.error
        manual = _by_scope(
            (await _manual_values(world, sanitise_code(f"manual_{pdf['id']}")))["manual"]
        )
        assert manual[("en_US", None)] != manual[("fr_FR", None)]
        summary, _items = await scan(world)
        assert 0 == summary.total

        code = sanitise_code(image["id"])
        values = (await world.pim_assets("packshots"))[code]["values"]
        previews = _by_scope(values["preview"])
        assert previews[(None, "ecommerce")] != previews[(None, "print")]
        edit = {
            "preview": [{"locale": None, "channel": "print", "data": values["media"][0]["data"]}]
        }
        await pim_call(
            world, "PATCH", f"/api/rest/v1/asset-families/packshots/assets/{code}", {"values": edit}
        )
        summary, items = await scan(world)
        assert ([image["id"]], 1) == (items["stale"], summary.total)
