"""The whole product shape, merge-patch semantics, NDJSON results and search in the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from daemon.sim.pim import load_seed
from tests.sim.test_pim_support import API, FakeClock, ndjson, sim

NDJSON = "application/vnd.akeneo.collection+json"
LINKS_SEED = load_seed(Path(__file__).parents[2] / "config" / "sim" / "pim-links-seed.json")


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.split("\n")]


def pictures(*codes: str, locale: str | None = None) -> dict[str, Any]:
    return {"model_pictures": [{"locale": locale, "scope": None, "data": list(codes)}]}


async def test_new_product_reads_back_with_the_whole_shape():
    """A product created with only its identifier has every property of the standard format."""
    async with sim(LINKS_SEED, clock=FakeClock()) as (client, _):
        await client.patch(f"{API}/products/bag", json={"identifier": "bag"})
        product = (await client.get(f"{API}/products/bag")).json()
        model = (await client.get(f"{API}/product-models/rain_jacket")).json()
    assert {
        "identifier": "bag",
        "enabled": True,
        "family": None,
        "categories": [],
        "groups": [],
        "parent": None,
        "values": {},
        "associations": {},
        "quantified_associations": {},
        "created": "2024-05-31T09:23:34+00:00",
        "updated": "2024-05-31T09:23:34+00:00",
    } == {k: v for k, v in product.items() if k not in ("_links", "uuid")}
    assert 36 == len(product["uuid"])
    assert [
        "_links",
        "code",
        "family",
        "family_variant",
        "parent",
        "categories",
        "associations",
        "quantified_associations",
        "values",
        "created",
        "updated",
    ] == list(model)


async def test_sending_back_what_was_read_changes_nothing():
    """A GET result PATCHed back as is (links, stamps, uuid) answers 204 and keeps updated."""
    clock = FakeClock()
    async with sim(LINKS_SEED, clock=clock) as (client, _):
        read = (await client.get(f"{API}/products/jacket_001")).json()
        clock.advance(60)
        single = await client.patch(f"{API}/products/jacket_001", json=read)
        bulk = await client.patch(
            f"{API}/products", content=ndjson(read), headers={"Content-Type": NDJSON}
        )
        again = (await client.get(f"{API}/products/jacket_001")).json()
    assert (204, [204]) == (single.status_code, [line["status_code"] for line in lines(bulk)])
    assert read == again


async def test_merge_patch_rules_on_properties():
    """Objects merge (associations), arrays and scalars replace, unsent properties stay."""
    async with sim(LINKS_SEED) as (client, _):
        url = f"{API}/products/shoe_001"
        await client.patch(
            url,
            json={"associations": {"X_SELL": {"products": ["jacket_001"], "groups": []}}},
        )
        await client.patch(
            url,
            json={
                "associations": {
                    "X_SELL": {"groups": ["g1"]},
                    "UPSELL": {"product_models": ["rain_jacket"]},
                },
                "categories": ["sale"],
                "enabled": False,
            },
        )
        product = (await client.get(url)).json()
    assert {
        "X_SELL": {"products": ["jacket_001"], "groups": ["g1"]},
        "UPSELL": {"product_models": ["rain_jacket"]},
    } == product["associations"]
    assert (["sale"], False, ["summer_sale"], "shoes") == (
        product["categories"],
        product["enabled"],
        product["groups"],
        product["family"],
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"enabled": "yes"}, 'Property "enabled" expects a boolean as data, "string" given.'),
        ({"categories": "sale"}, 'Property "categories" expects an array as data, "string" given.'),
        ({"family": ["a"]}, 'Property "family" expects a scalar as data, "array" given.'),
        ({"associations": []}, 'Property "associations" expects an array as data, "array" given.'),
        ({"values": []}, 'Property "values" expects an array as data, "array" given.'),
    ],
)
async def test_type_mismatch_is_a_422_that_changes_nothing(body, message):
    """A property of the wrong type is refused and the product is left as it was."""
    async with sim(LINKS_SEED) as (client, _):
        before = (await client.get(f"{API}/products/shoe_001")).json()
        response = await client.patch(
            f"{API}/products/shoe_001", json={**body, "groups": ["changed"]}
        )
        after = (await client.get(f"{API}/products/shoe_001")).json()
    assert (422, message) == (response.status_code, response.json()["message"])
    assert before == after


async def test_asset_collection_data_is_replaced_whole():
    """PATCHing a collection sends the whole array: order kept, codes not sent are gone."""
    async with sim(LINKS_SEED) as (client, _):
        await client.patch(f"{API}/asset-families/model_pictures/assets/jacket_001_back", json={})
        url = f"{API}/products/jacket_001"
        await client.patch(url, json={"values": pictures("jacket_001_back", "jacket_001_front")})
        first = (await client.get(url)).json()["values"]["model_pictures"][0]["data"]
        await client.patch(url, json={"values": pictures("jacket_001_back")})
        second = (await client.get(url)).json()["values"]["model_pictures"][0]["data"]
        await client.patch(
            url,
            json={"values": {"model_pictures": [{"locale": None, "scope": None, "data": None}]}},
        )
        cleared = (await client.get(url)).json()["values"]
    assert ["jacket_001_back", "jacket_001_front"] == first
    assert ["jacket_001_back"] == second
    assert "model_pictures" not in cleared


async def test_asset_collection_errors_per_line():
    """Unknown codes, a misplaced locale and bad data are per-line 422s with attribute/scope."""
    body = ndjson(
        {"identifier": "jacket_001", "values": pictures("nope")},
        {"identifier": "jacket_002", "values": pictures("jacket_001_front", locale="en_US")},
        {"identifier": "shoe_001", "values": pictures("jacket_001_front")},
        {
            "identifier": "new_one",
            "values": {"model_pictures": [{"locale": None, "scope": None, "data": "x"}]},
        },
    )
    async with sim(LINKS_SEED) as (client, _):
        response = await client.patch(
            f"{API}/products", content=body, headers={"Content-Type": NDJSON}
        )
        missing = await client.get(f"{API}/products/new_one")
    results = lines(response)
    assert [422, 422, 204, 422] == [r["status_code"] for r in results]
    assert [1, 2, 3, 4] == [r["line"] for r in results]
    assert {
        "property": "values",
        "message": 'The asset codes nope do not exist in the "model_pictures" asset family.',
        "attribute": "model_pictures",
        "locale": None,
        "scope": None,
    } == results[0]["errors"][0]
    assert (
        'Attribute "model_pictures" does not expect a locale, "en_US" given.'
        == results[1]["errors"][0]["message"]
    )
    assert 404 == missing.status_code


async def test_product_models_bulk_and_whole_shape():
    """Product models upsert by code in NDJSON, with collections and merge-patch rules."""
    body = ndjson(
        {"code": "rain_jacket", "values": pictures("jacket_001_front")},
        {"code": "boot", "family_variant": "by_size", "categories": ["footwear"]},
        {"code": "rain_jacket", "enabled": True},
    )
    async with sim(LINKS_SEED) as (client, _):
        response = await client.patch(
            f"{API}/product-models", content=body, headers={"Content-Type": NDJSON}
        )
        model = (await client.get(f"{API}/product-models/rain_jacket")).json()
        boot = (await client.get(f"{API}/product-models/boot")).json()
    assert [
        {"line": 1, "code": "rain_jacket", "status_code": 204},
        {"line": 2, "code": "boot", "status_code": 201},
        {
            "line": 3,
            "code": "rain_jacket",
            "status_code": 422,
            "message": 'Property "enabled" does not exist.',
        },
    ] == lines(response)
    assert ["jacket_001_front"] == model["values"]["model_pictures"][0]["data"]
    assert ("outerwear", "by_size", None) == (
        model["categories"][0],
        boot["family_variant"],
        boot["family"],
    )


async def test_a_hundred_lines_pass_and_identifier_is_unique_on_uuid_endpoint():
    """100 lines are fine; a uuid line taking another product's identifier is refused."""
    async with sim(LINKS_SEED) as (client, _):
        hundred = await client.patch(
            f"{API}/products",
            content=ndjson(*[{"identifier": f"p{i:03}"} for i in range(100)]),
            headers={"Content-Type": NDJSON},
        )
        clash = await client.patch(
            f"{API}/products-uuid",
            content=ndjson(
                {"uuid": "5f1c6c1e-8d0a-4a6e-9e39-3c1b2a7d0003", "identifier": "jacket_001"}
            ),
            headers={"Content-Type": NDJSON},
        )
    assert [201] * 100 == [r["status_code"] for r in lines(hundred)]
    assert (422, "identifier") == (
        lines(clash)[0]["status_code"],
        lines(clash)[0]["errors"][0]["property"],
    )


async def search(client: Any, path: str, filters: dict[str, Any], **params: str) -> list[str]:
    key = "code" if path == "product-models" else "identifier"
    response = await client.get(
        f"{API}/{path}", params={"search": json.dumps(filters), "limit": "100", **params}
    )
    assert 200 == response.status_code, response.text
    return [item[key] for item in response.json()["_embedded"]["items"]]


async def test_search_filters():
    """identifier IN, family, categories, parent, enabled and collection filters."""
    async with sim(LINKS_SEED) as (client, _):
        await client.patch(f"{API}/products/shoe_001", json={"enabled": False})
        found = [
            await search(
                client,
                "products",
                {"identifier": [{"operator": "IN", "value": ["shoe_001", "jacket_002", "zz"]}]},
            ),
            await search(
                client, "products", {"family": [{"operator": "NOT IN", "value": ["shoes"]}]}
            ),
            await search(
                client, "products", {"parent": [{"operator": "=", "value": "rain_jacket"}]}
            ),
            await search(client, "products", {"parent": [{"operator": "EMPTY"}]}),
            await search(client, "products", {"enabled": [{"operator": "=", "value": True}]}),
            await search(
                client, "products", {"categories": [{"operator": "IN", "value": ["footwear"]}]}
            ),
            await search(
                client,
                "products",
                {"model_pictures": [{"operator": "IN", "value": ["jacket_001_front"]}]},
            ),
            await search(client, "products", {"model_pictures": [{"operator": "EMPTY"}]}),
            await search(
                client,
                "product-models",
                {"identifier": [{"operator": "IN", "value": ["rain_jacket"]}]},
            ),
        ]
    assert [
        ["jacket_002", "shoe_001"],
        ["jacket_001", "jacket_002"],
        ["jacket_001", "jacket_002"],
        ["shoe_001"],
        ["jacket_001", "jacket_002"],
        ["shoe_001"],
        ["jacket_001"],
        ["jacket_002", "shoe_001"],
        ["rain_jacket"],
    ] == found


async def test_search_by_identifier_pages_with_search_after_and_trims_values():
    """search_after pages keep the search; attributes/locales keep only the asked values."""
    async with sim(LINKS_SEED) as (client, _):
        wanted = {
            "identifier": [{"operator": "IN", "value": ["jacket_001", "jacket_002", "shoe_001"]}]
        }
        params = {"search": json.dumps(wanted), "pagination_type": "search_after", "limit": "2"}
        first = (await client.get(f"{API}/products", params=params)).json()
        second = (await client.get(first["_links"]["next"]["href"])).json()
        trimmed = (
            await client.get(f"{API}/products", params={"attributes": "name", "locales": "fr_FR"})
        ).json()
    assert ["jacket_001", "jacket_002"] == [p["identifier"] for p in first["_embedded"]["items"]]
    assert ["shoe_001"] == [p["identifier"] for p in second["_embedded"]["items"]]
    assert all(p["values"] == {} for p in trimmed["_embedded"]["items"])


@pytest.mark.parametrize(
    ("search", "status", "message"),
    [
        ("{nope", 400, "Search query parameter should be valid JSON."),
        (
            '{"sku":[{"operator":"IN","value":["a"]}]}',
            422,
            'Filter on property "sku" is not supported or does not support operator "IN"',
        ),
        (
            '{"updated":[{"operator":">","value":"2024-01-01T00:00:00Z"}]}',
            422,
            'Property "updated" expects a string with the format "yyyy-mm-dd H:i:s" as data, '
            '"2024-01-01T00:00:00Z" given.',
        ),
    ],
)
async def test_search_errors(search, status, message):
    """Bad JSON, unsupported filters and ISO dates (products use YYYY-MM-DD hh:mm:ss) fail."""
    async with sim(LINKS_SEED) as (client, _):
        response = await client.get(f"{API}/products", params={"search": search})
    assert (status, message) == (response.status_code, response.json()["message"])


async def test_updated_filter_uses_the_product_date_format():
    """updated > 'YYYY-MM-DD hh:mm:ss' finds what changed after that second."""
    clock = FakeClock()
    async with sim(LINKS_SEED, clock=clock) as (client, _):
        clock.advance(10)
        await client.patch(f"{API}/products/shoe_001", json={"enabled": False})
        found = await search(
            client, "products", {"updated": [{"operator": ">", "value": "2024-05-31 09:23:40"}]}
        )
    assert ["shoe_001"] == found


async def test_links_seed_loads():
    """The links demo seed has its family, rules, products and a product model."""
    async with sim(LINKS_SEED) as (client, _):
        family = (await client.get(f"{API}/asset-families/model_pictures")).json()
        products = (await client.get(f"{API}/products")).json()["_embedded"]["items"]
        models = (await client.get(f"{API}/product-models")).json()["_embedded"]["items"]
    assert (2, 1) == (len(family["product_link_rules"]), len(family["transformations"]))
    assert ["jacket_001", "jacket_002", "shoe_001"] == [p["identifier"] for p in products]
    assert ["rain_jacket"] == [m["code"] for m in models]
