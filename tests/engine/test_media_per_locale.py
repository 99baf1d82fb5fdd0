"""
Several media_file values per asset, end to end in-process: a DAM field gives one file per
locale and one per channel, each distinct binary is uploaded once (shared files and files
equal to other assets' own binaries included), and each lands in its locale's or channel's value.
"""

from __future__ import annotations

from typing import Any

from daemon.mapping import sanitise_code
from tests.engine.conftest import World
from tests.engine.model_world import (  # model_world: the world fixture
    UPLOAD,
    model_world,  # noqa: F401
    open_model_world,
)


def _file(item: dict[str, Any]) -> dict[str, Any]:
    """A DAM item's own file object: url, filename, mime_type, size, sha256."""
    return dict(item["file"])


async def _give_files(world: World) -> dict[str, dict[str, Any]]:
    """Give one PDF per-locale manuals and per-channel previews taken from other assets."""
    live = [a for a in await world.dam_assets() if not a["deleted"]]
    pdfs = [a for a in live if a["type"] == "pdf"]
    images = [a for a in live if a["type"] == "image"]
    assert len(pdfs) >= 2 and len(images) >= 2
    target, other = pdfs[0], pdfs[1]
    web, printed = images[0], images[1]
    metadata = dict(
        target["metadata"],
        # en_US is the asset's own binary; fr_FR and de_DE share another PDF; es_ES is not an
        # active locale of the PIM and is left out.
        manuals={
            "en_US": _file(target),
            "fr_FR": _file(other),
            "de_DE": _file(other),
            "es_ES": _file(other),
        },
        previews={"web": _file(web), "print": _file(printed)},
        brand="Acme Inc.",
    )
    world.clock.advance(1)
    answer = await world.dam.post("/_sim/mutate", json={"id": target["id"], "metadata": metadata})
    assert 200 == answer.status_code, answer.text
    world.clock.advance(60)
    return {"target": target, "other": other, "web": web, "print": printed}


def _by_scope(values: list[dict[str, Any]]) -> dict[tuple[str | None, str | None], str]:
    return {(v["locale"], v["channel"]): v["data"] for v in values}


async def test_per_locale_and_per_channel_binaries_are_uploaded_once_each_into_their_values(
    world,
):
    """Every distinct binary once; each file in its locale's or channel's value."""
    files = await _give_files(world)
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    live = [a for a in await world.dam_assets() if not a["deleted"]]
    stats = await world.pim_stats()
    # The files given are other assets' own binaries: nothing beyond one upload per binary.
    assert len({a["file"]["sha256"] for a in live}) == world.count(stats, UPLOAD)

    notices = await world.pim_assets("notices")
    packshots = await world.pim_assets("packshots")
    manual = notices[sanitise_code(f"manual_{files['target']['id']}")]["values"]

    def own_code(family: dict[str, Any], code: str) -> str:
        return str(family[sanitise_code(code)]["values"]["media"][0]["data"])

    own = own_code(notices, f"notice_{files['other']['id']}")
    assert {
        ("en_US", None): manual["media"][0]["data"],
        ("fr_FR", None): own,
        ("de_DE", None): own,
    } == _by_scope(manual["manual"])
    assert {
        (None, "ecommerce"): own_code(packshots, files["web"]["id"]),
        (None, "print"): own_code(packshots, files["print"]["id"]),
    } == _by_scope(manual["preview"])
    # A record attribute on the way: the code, renamed by `options`.
    assert {(None, None): "acme"} == _by_scope(manual["brand"])


async def test_a_changed_locale_file_changes_that_value_alone_and_uploads_only_new_bytes(world):
    """Pointing fr_FR at a binary the PIM has already moves that value without an upload."""
    files = await _give_files(world)
    await world.runner.run_once()
    notices = await world.pim_assets("notices")
    code = sanitise_code(f"manual_{files['target']['id']}")
    before = _by_scope(notices[code]["values"]["manual"])
    item = next(a for a in await world.dam_assets() if a["id"] == files["target"]["id"])
    manuals = dict(item["metadata"]["manuals"], fr_FR=_file(files["target"]))
    await world.reset_stats()
    world.clock.advance(1)
    metadata = dict(item["metadata"], manuals=manuals)
    await world.dam.post("/_sim/mutate", json={"id": item["id"], "metadata": metadata})
    world.clock.advance(60)
    result = await world.runner.run_once()
    assert (1, 0) == (result.written, result.failed), result.error
    assert 0 == world.count(await world.pim_stats(), UPLOAD)
    after = _by_scope((await world.pim_assets("notices"))[code]["values"]["manual"])
    assert before[("en_US", None)] == after[("fr_FR", None)] == after[("en_US", None)]
    assert before[("de_DE", None)] == after[("de_DE", None)]


async def test_the_dam_simulators_own_localized_files_arrive_in_their_values(tmp_path):
    """
    ``localized_files``: every PDF's manuals (en_US the current file, fr_FR and de_DE the first
    upload) and every image's renditions (web current, print first) are written, each binary
    uploaded once; a re-uploaded PDF then costs one upload and moves en_US alone.
    """
    async with open_model_world(tmp_path, localized_files=True) as world:
        result = await world.runner.run_once()
        assert ("succeeded", 0) == (result.status, result.failed), result.error
        live = [a for a in await world.dam_assets() if not a["deleted"]]
        assert len(live) == world.count(await world.pim_stats(), UPLOAD)
        notices = await world.pim_assets("notices")
        packshots = await world.pim_assets("packshots")
        pdf = next(a for a in live if a["type"] == "pdf")
        for item in live:
            if item["type"] == "pdf":
                values = notices[sanitise_code(f"manual_{item['id']}")]["values"]
                own = values["media"][0]["data"]
                assert {(loc, None): own for loc in ("en_US", "fr_FR", "de_DE")} == _by_scope(
                    values["manual"]
                )
            else:
                values = packshots[sanitise_code(item["id"])]["values"]
                own = values["media"][0]["data"]
                assert {(None, "ecommerce"): own, (None, "print"): own} == _by_scope(
                    values["preview"]
                )

        await world.reset_stats()
        world.clock.advance(1)
        await world.dam.post("/_sim/mutate", json={"id": pdf["id"], "new_file": True})
        world.clock.advance(60)
        result = await world.runner.run_once()
        assert (1, 0) == (result.written, result.failed), result.error
        assert 1 == world.count(await world.pim_stats(), UPLOAD)
        code = sanitise_code(f"manual_{pdf['id']}")
        values = (await world.pim_assets("notices"))[code]["values"]
        manual = _by_scope(values["manual"])
        assert values["media"][0]["data"] == manual[("en_US", None)] != manual[("fr_FR", None)]
        assert manual[("fr_FR", None)] == manual[("de_DE", None)] == own_before(notices, code)


def own_before(notices: dict[str, Any], code: str) -> str:
    """The asset's media file code before its file changed (its first upload)."""
    return str(notices[code]["values"]["media"][0]["data"])


async def test_a_locale_file_the_dam_drops_is_erased_from_the_pim(world):
    """Managed values: the de_DE manual the DAM no longer gives is erased, the others stay."""
    files = await _give_files(world)
    await world.runner.run_once()
    item = next(a for a in await world.dam_assets() if a["id"] == files["target"]["id"])
    manuals = {k: v for k, v in item["metadata"]["manuals"].items() if k != "de_DE"}
    world.clock.advance(1)
    metadata = dict(item["metadata"], manuals=manuals)
    await world.dam.post("/_sim/mutate", json={"id": item["id"], "metadata": metadata})
    world.clock.advance(60)
    result = await world.runner.run_once()
    assert (1, 0) == (result.written, result.failed), result.error
    code = sanitise_code(f"manual_{item['id']}")
    values = (await world.pim_assets("notices"))[code]["values"]
    kept = {k: v for k, v in _by_scope(values["manual"]).items() if v is not None}
    assert {("en_US", None), ("fr_FR", None)} == set(kept)
