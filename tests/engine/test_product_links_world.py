"""
Direct product links through whole passes (DAM simulator -> engine -> PIM simulator), on SQLite
and PostgreSQL: linked after the batch commit, moved by ``replace``, unknown products failing
their assets alone, and a deleted DAM asset leaving its products before it is deleted.
"""

from __future__ import annotations

import json
from typing import Any

from daemon.mapping import sanitise_code
from daemon.store.product_link_store import LINK_STAGE
from tests.engine.conftest import World
from tests.engine.convergence_world import _worlds, config, images, mutate
from tests.store.conftest import _pg_databases

__all__ = ["_pg_databases", "_worlds"]  # the fixtures, by name

LINKS = """
[[sources.mapping.families.product_links]]
attribute = "packshots"
identifier_path = "metadata.product_skus"
mode = "replace"
"""
NOTICES = '\n[[sources.mapping.families]]\nfamily = "notices"'
NDJSON = "application/vnd.akeneo.collection+json"
MISSING = "SKU-MISSING"


def link_config() -> str:
    text = config("delete")
    assert NOTICES in text
    return text.replace(NOTICES, "\n" + LINKS + NOTICES, 1)


async def auth(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {await world._token()}"}


async def create_products(world: World, identifiers: list[str]) -> None:
    for start in range(0, len(identifiers), 100):
        lines = [json.dumps({"identifier": i}) for i in identifiers[start : start + 100]]
        answer = await world.pim.patch(
            "/api/rest/v1/products",
            content="\n".join(lines),
            headers={**await auth(world), "Content-Type": NDJSON},
        )
        assert 'status_code":4' not in answer.text, answer.text


async def collection(world: World, identifier: str) -> list[str]:
    body = (
        await world.pim.get(f"/api/rest/v1/products/{identifier}", headers=await auth(world))
    ).json()
    return [c for v in body.get("values", {}).get("packshots", []) for c in v["data"]]


def expected(dam: list[dict[str, Any]]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for item in dam:
        for sku in item["metadata"].get("product_skus", []):
            wanted.setdefault(sku, set()).add(sanitise_code(item["id"]))
    return wanted


async def test_passes_link_move_and_unlink(worlds):
    world = await worlds.open(link_config())
    dam = await images(world)
    first, second = dam[0], dam[1]
    # One image names a product the PIM does not have: it alone fails, the others link.
    await mutate(world, first["id"], metadata={**first["metadata"], "product_skus": [MISSING]})
    dam = await images(world)
    wanted = expected(dam)
    await create_products(world, sorted(set(wanted) - {MISSING}))
    result = await world.runner.run_once()
    assert "succeeded" == result.status or result.status == "partial", result.error
    for sku, codes in wanted.items():
        if sku != MISSING:
            assert codes == set(await collection(world, sku)), sku
    failures = world.services.store.list_failures("demo")
    assert [(first["id"], LINK_STAGE)] == [(f.dam_id, f.stage) for f in failures]
    assert f"unknown product identifier '{MISSING}'" in failures[0].detail

    # Someone adds another packshot by hand to one of second's products: it stays.
    target = second["metadata"]["product_skus"][0]
    foreign = sanitise_code(first["id"])
    line = {
        "identifier": target,
        "values": {
            "packshots": [
                {"locale": None, "scope": None, "data": [*await collection(world, target), foreign]}
            ]
        },
    }
    await world.pim.patch(
        "/api/rest/v1/products",
        content=json.dumps(line),
        headers={**await auth(world), "Content-Type": NDJSON},
    )
    # replace: second now names only a product it was not in; it leaves its old ones.
    others = sorted(set(wanted) - {MISSING} - set(second["metadata"]["product_skus"]))
    await mutate(world, second["id"], metadata={**second["metadata"], "product_skus": [others[0]]})
    await world.runner.run_once()
    code = sanitise_code(second["id"])
    assert code in await collection(world, others[0])
    for sku in second["metadata"]["product_skus"]:
        assert code not in await collection(world, sku)
    assert foreign in await collection(world, target)

    # A deleted DAM asset (policy delete) leaves every product damsync put it in.
    await mutate(world, second["id"], deleted=True)
    await world.runner.run_once()
    assert code not in await collection(world, others[0])
    assert code not in await world.pim_assets("packshots")
    assert foreign in await collection(world, target)
