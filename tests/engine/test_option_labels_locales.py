"""
Options created with the labels the DAM gives in every active PIM locale, not only en_US: the
writer sends them, and end to end the PIM simulator's option holds them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from daemon.core.records import AssetAttribute, AssetFamily, Channel
from daemon.engine.option_writer import OptionWriter
from daemon.engine.structure_cache import StructureCache
from daemon.mapping import MissingOption
from tests.engine.conftest import World
from tests.engine.model_world import model_world  # noqa: F401 (the world fixture)


class Reader:
    async def get_family_structure(self, family: str) -> AssetFamily:
        colour = AssetAttribute(code="colour", type="single_option")
        return AssetFamily(family, {"colour": colour}, {"colour": frozenset()})

    async def iter_channels(self) -> AsyncIterator[Channel]:
        return
        yield


class Pim:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Mapping[str, str] | None]] = []

    async def upsert_attribute_option(
        self, family: str, attribute: str, code: str, labels: Mapping[str, str] | None = None
    ) -> None:
        self.sent.append((code, labels))


async def test_the_writer_sends_every_label_given_and_en_us_otherwise():
    pim = Pim()
    structure = StructureCache(Reader())
    await structure.family("f")
    labels = (("en_US", "Teal"), ("fr_FR", "Sarcelle"))
    await OptionWriter(pim, structure).create(
        [
            MissingOption("f", "colour", "teal", "Teal", labels),
            MissingOption("f", "colour", "plum", "Plum"),
            MissingOption("f", "colour", "sage", "Sage", (("de_DE", "Salbei"),)),
        ]
    )
    assert {
        "teal": {"en_US": "Teal", "fr_FR": "Sarcelle"},
        "plum": {"en_US": "Plum"},
        "sage": {"de_DE": "Salbei"},
    } == dict(pim.sent)


async def _option(world: World, family: str, attribute: str, code: str) -> dict[str, Any]:
    token = await world._token()
    url = f"/api/rest/v1/asset-families/{family}/attributes/{attribute}/options/{code}"
    answer = await world.pim.get(url, headers={"Authorization": f"Bearer {token}"})
    assert 200 == answer.status_code, answer.text
    return dict(answer.json())


async def test_a_pass_creates_the_option_with_each_active_locale_label(world):
    live = [a for a in await world.dam_assets() if not a["deleted"] and a["type"] == "pdf"]
    target = live[0]
    finish = {"en_US": "Soft Touch", "fr_FR": "Toucher doux", "de_DE": "", "es_ES": "Tacto suave"}
    metadata = dict(target["metadata"], manuals={"en_US": target["file"]}, finish=finish)
    world.clock.advance(1)
    await world.dam.post("/_sim/mutate", json={"id": target["id"], "metadata": metadata})
    world.clock.advance(60)
    result = await world.runner.run_once()
    assert ("succeeded", 0) == (result.status, result.failed), result.error
    option = await _option(world, "notices", "finish", "soft_touch")
    # es_ES is not active in the PIM, de_DE's label is empty: both left out.
    assert {"en_US": "Soft Touch", "fr_FR": "Toucher doux"} == option["labels"]
