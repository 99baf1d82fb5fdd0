"""Products, product models, channels and locales in the simulator (NDJSON bulk, pagination)."""

from __future__ import annotations

import json

import pytest

from tests.sim.test_pim_support import API, BASE, FAMILY_SEED, ndjson, sim

NDJSON = "application/vnd.akeneo.collection+json"
SEED = {
    **FAMILY_SEED,
    "asset_families": [
        {**FAMILY_SEED["asset_families"][0], "assets": [{"code": "a1"}, {"code": "a2"}]}
    ],
    "products": [{"identifier": "cap"}, {"identifier": "mug"}],
}


async def test_documented_ndjson_example_lines():
    """The doc request lines give exactly the doc response lines, without a trailing newline."""
    body = "\n".join(
        [
            '{"identifier":"cap","values":{"description":[{"scope":"ecommerce","locale":"en_US",'
            '"data":"My amazing cap"}]}}',
            '{"identifier":"mug","group":["promotion"]}',
            '{"identifier":"tshirt","family":"clothes"}',
        ]
    )
    async with sim(SEED) as (client, _):
        response = await client.patch(
            f"{API}/products", content=body, headers={"Content-Type": NDJSON}
        )
    assert 200 == response.status_code
    assert NDJSON == response.headers["content-type"]
    assert (
        '{"line":1,"identifier":"cap","status_code":204}\n'
        '{"line":2,"identifier":"mug","status_code":422,"message":"Property \\"group\\" does not '
        'exist."}\n'
        '{"line":3,"identifier":"tshirt","status_code":201}'
    ) == response.text


async def test_ndjson_per_line_errors():
    """Bad JSON, a missing key and a too-long line are per-line results; others go on."""
    lines = "\n".join(
        [
            "{nope",
            '{"values":{}}',
            '{"identifier":"x' + "y" * 1_000_000 + '"}',
            '{"identifier":"new"}',
        ]
    )
    async with sim(SEED) as (client, _):
        response = await client.patch(
            f"{API}/products", content=lines, headers={"Content-Type": NDJSON}
        )
    assert [
        {"line": 1, "status_code": 400, "message": "Invalid json message received"},
        {"line": 2, "status_code": 422, "message": "Identifier is missing."},
        {"line": 3, "status_code": 413, "message": "Line is too long."},
        {"line": 4, "identifier": "new", "status_code": 201},
    ] == [json.loads(line) for line in response.text.split("\n")]


async def test_ndjson_whole_request_limits():
    """101 lines is a 413 and a JSON content type a 415 with the documented text."""
    async with sim(SEED) as (client, _):
        many = await client.patch(
            f"{API}/products",
            content=ndjson(*[{"identifier": f"p{i}"} for i in range(101)]),
            headers={"Content-Type": NDJSON},
        )
        wrong = await client.patch(
            f"{API}/products", content="{}", headers={"Content-Type": "application/json"}
        )
    assert (413, "Too many resources to process, 100 is the maximum allowed.") == (
        many.status_code,
        many.json()["message"],
    )
    assert (
        415,
        "'application/json' in 'Content-type' header is not valid.  Only "
        "'application/vnd.akeneo.collection+json' is allowed.",
    ) == (wrong.status_code, wrong.json()["message"])


async def test_asset_collection_values_are_checked_against_the_family():
    """Existing asset codes are accepted; unknown ones give a 422 naming attribute and codes."""
    ok = {"packshots": [{"locale": None, "scope": None, "data": ["a2", "a1"]}]}
    bad = {"packshots": [{"locale": None, "scope": None, "data": ["a1", "zz"]}]}
    async with sim(SEED) as (client, _):
        response = await client.patch(
            f"{API}/products",
            content=ndjson(
                {"identifier": "cap", "values": ok}, {"identifier": "mug", "values": bad}
            ),
            headers={"Content-Type": NDJSON},
        )
        cap = (await client.get(f"{API}/products/cap")).json()
    first, second = (json.loads(line) for line in response.text.split("\n"))
    assert 204 == first["status_code"]
    assert (422, "Validation failed.") == (second["status_code"], second["message"])
    assert [
        {
            "property": "values",
            "message": 'The asset codes zz do not exist in the "packshots" asset family.',
            "attribute": "packshots",
            "locale": None,
            "scope": None,
        }
    ] == second["errors"]
    assert ["a2", "a1"] == cap["values"]["packshots"][0]["data"]


async def test_single_product_patch_by_identifier_and_uuid():
    """PATCH by identifier and by uuid answer 201/204 with Location."""
    async with sim(SEED) as (client, _):
        created = await client.patch(f"{API}/products/bag", json={"identifier": "bag"})
        uuid = (await client.get(f"{API}/products/bag")).json()["uuid"]
        by_uuid = await client.patch(f"{API}/products-uuid/{uuid}", json={"family": "bags"})
        product = (await client.get(f"{API}/products-uuid/{uuid}")).json()
    assert (201, f"{BASE}{API}/products/bag") == (created.status_code, created.headers["location"])
    assert (204, "bags", "bag") == (by_uuid.status_code, product["family"], product["identifier"])


async def test_product_models_bulk_is_keyed_by_code():
    """Product-model lines use code, and a missing code says so."""
    async with sim(SEED) as (client, _):
        response = await client.patch(
            f"{API}/product-models",
            content=ndjson({"code": "m1"}, {"family_variant": "x"}),
            headers={"Content-Type": NDJSON},
        )
    assert [
        {"line": 1, "code": "m1", "status_code": 201},
        {"line": 2, "status_code": 422, "message": "Code is missing."},
    ] == [json.loads(line) for line in response.text.split("\n")]


async def test_products_search_after_pagination():
    """search_after pages products by identifier, with next only on a full page."""
    async with sim(SEED) as (client, _):
        params = {"pagination_type": "search_after", "limit": "2"}
        first = (await client.get(f"{API}/products", params=params)).json()
        second = (await client.get(first["_links"]["next"]["href"])).json()
    assert ["cap", "mug"] == [p["identifier"] for p in first["_embedded"]["items"]]
    assert [] == second["_embedded"]["items"]
    assert "next" not in second["_links"]


async def test_channels_offset_pagination_and_limit():
    """Channels page with page/limit and refuse a limit over 100."""
    async with sim(SEED) as (client, _):
        page = (await client.get(f"{API}/channels", params={"limit": "1"})).json()
        too_many = await client.get(f"{API}/channels", params={"limit": "101"})
        locales = (await client.get(f"{API}/locales")).json()
    assert ["ecommerce"] == [c["code"] for c in page["_embedded"]["items"]]
    assert "next" in page["_links"]
    assert (422, "You cannot request more than 100 items.") == (
        too_many.status_code,
        too_many.json()["message"],
    )
    assert [("en_US", True), ("fr_FR", True), ("de_DE", True)] == [
        (loc["code"], loc["enabled"]) for loc in locales["_embedded"]["items"]
    ]


async def test_product_attribute_get():
    """GET /attributes/{code} shows the asset collection's reference_data_name."""
    async with sim(SEED) as (client, _):
        attribute = (await client.get(f"{API}/attributes/packshots")).json()
        listed = (await client.get(f"{API}/attributes")).json()
    assert ("pim_catalog_asset_collection", "packshots") == (
        attribute["type"],
        attribute["reference_data_name"],
    )
    assert ["description", "packshots"] == [a["code"] for a in listed["_embedded"]["items"]]


@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
async def test_non_json_accept_is_406(accept):
    """A JSON GET with an Accept that excludes JSON gives 406."""
    async with sim(SEED) as (client, _):
        response = await client.get(f"{API}/channels", headers={"Accept": accept})
    assert 406 == response.status_code


async def test_json_or_any_accept_is_fine():
    """Accept application/json or */* (the PHP client's) is served."""
    async with sim(SEED) as (client, _):
        statuses = [
            (await client.get(f"{API}/locales", headers={"Accept": a})).status_code
            for a in ("application/json", "*/*", "text/html, */*;q=0.1")
        ]
    assert [200, 200, 200] == statuses


async def test_demo_seed_file_loads():
    """The shipped demo seed builds the two families, their options and products."""
    from pathlib import Path

    from daemon.sim.pim import load_seed

    seed = load_seed(Path(__file__).parents[2] / "config" / "sim" / "pim-seed.json")
    async with sim(seed) as (client, _):
        families = (await client.get(f"{API}/asset-families")).json()
        colours = (
            await client.get(f"{API}/asset-families/packshots/attributes/colour/options")
        ).json()
        products = (await client.get(f"{API}/products")).json()
    assert ["notices", "packshots"] == [f["code"] for f in families["_embedded"]["items"]]
    assert ["media", "media"] == [
        f["attribute_as_main_media"] for f in families["_embedded"]["items"]
    ]
    assert 4 == len(colours)
    assert 3 == len(products["_embedded"]["items"])
