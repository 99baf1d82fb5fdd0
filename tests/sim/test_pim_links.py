"""Naming conventions, product link rules and transformations run by the PIM simulator."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from daemon.sim.pim import load_seed
from daemon.sim.pim.family_structure_checks import compile_pcre
from tests.sim.test_pim_support import API, sim

LINKS_SEED = load_seed(Path(__file__).parents[2] / "config" / "sim" / "pim-links-seed.json")
FAMILY = f"{API}/asset-families/model_pictures"


def seed_with(**family: Any) -> dict[str, Any]:
    """The links seed with the model_pictures family's structure keys replaced."""
    seed = copy.deepcopy(LINKS_SEED)
    seed["asset_families"][0].update(family)
    return seed


def value(data: Any) -> list[dict[str, Any]]:
    return [{"locale": None, "channel": None, "data": data}]


async def collection(client: Any, identifier: str, attribute: str) -> list[str] | None:
    values = (await client.get(f"{API}/products/{identifier}")).json()["values"]
    items = values.get(attribute, [])
    return items[0]["data"] if items else None


async def test_naming_convention_fills_values_from_the_code():
    """Named groups fill product_ref and view; values sent in the body win."""
    async with sim(LINKS_SEED) as (client, _):
        created = await client.patch(f"{FAMILY}/assets/jacket_002_back", json={"values": {}})
        sent = await client.patch(
            f"{FAMILY}/assets/jacket_002_side", json={"values": {"view": value("front")}}
        )
        back = (await client.get(f"{FAMILY}/assets/jacket_002_back")).json()["values"]
        side = (await client.get(f"{FAMILY}/assets/jacket_002_side")).json()["values"]
    assert (201, 201) == (created.status_code, sent.status_code)
    assert (value("jacket_002"), value("back")) == (back["product_ref"], back["view"])
    assert (value("jacket_002"), value("front")) == (side["product_ref"], side["view"])


async def test_naming_convention_runs_only_at_creation():
    """An update of an existing asset does not extract again."""
    async with sim(LINKS_SEED) as (client, _):
        await client.patch(
            f"{FAMILY}/assets/jacket_002_back", json={"values": {"product_ref": value("other")}}
        )
        await client.patch(f"{FAMILY}/assets/jacket_002_back", json={"values": {}})
        values = (await client.get(f"{FAMILY}/assets/jacket_002_back")).json()["values"]
    assert value("other") == values["product_ref"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("nomatch", 'the value "nomatch" does not match the pattern'),
        ("jacket_009_top", 'the value "top" extracted for "view" is not valid'),
    ],
)
async def test_naming_convention_error_aborts_creation(code, reason):
    """With abort_asset_creation_on_error a failure is a 422 and no asset is created."""
    async with sim(LINKS_SEED) as (client, _):
        response = await client.patch(f"{FAMILY}/assets/{code}", json={"values": {}})
        read = await client.get(f"{FAMILY}/assets/{code}")
        bulk = await client.patch(
            f"{FAMILY}/assets", json=[{"code": code}, {"code": "shoe_001_side"}]
        )
    assert 422 == response.status_code
    assert response.json()["message"].startswith(
        f"Error during naming convention execution: {reason}"
    )
    assert 404 == read.status_code
    assert [422, 201] == [item["status_code"] for item in bulk.json()]


async def test_naming_convention_error_without_abort_creates_the_asset():
    """With abort off a failing convention creates the asset without extracted values."""
    convention = {**LINKS_SEED["asset_families"][0]["naming_convention"]}
    convention["abort_asset_creation_on_error"] = False
    async with sim(seed_with(naming_convention=convention)) as (client, _):
        response = await client.patch(f"{FAMILY}/assets/nomatch", json={"values": {}})
        values = (await client.get(f"{FAMILY}/assets/nomatch")).json()["values"]
    assert (201, {}) == (response.status_code, values)


async def test_naming_convention_on_the_main_media_filename():
    """A main-media source matches the uploaded file's original filename."""
    convention = {
        "source": {"property": "main_image", "locale": None, "channel": None},
        "pattern": r"/^(?P<product_ref>[a-z]+_\d+)-(?P<view>[a-z]+)\.jpg$/",
        "abort_asset_creation_on_error": True,
    }
    async with sim(seed_with(naming_convention=convention)) as (client, _):
        upload = await client.post(
            f"{API}/asset-media-files", files={"file": ("shoe_001-side.jpg", b"x", "image/jpeg")}
        )
        media = upload.headers["asset-media-file-code"]
        created = await client.patch(
            f"{FAMILY}/assets/any_code", json={"values": {"main_image": value(media)}}
        )
        values = (await client.get(f"{FAMILY}/assets/any_code")).json()["values"]
        missing = await client.patch(f"{FAMILY}/assets/no_media", json={"values": {}})
    assert 201 == created.status_code, created.text
    assert (value("shoe_001"), value("side")) == (values["product_ref"], values["view"])
    assert 422 == missing.status_code
    assert "has no value" in missing.json()["message"]


async def test_link_rules_add_and_replace_on_creation():
    """Rule 1 appends to model_pictures (add); rule 2 makes main_picture this asset (replace)."""
    async with sim(LINKS_SEED) as (client, _):
        await client.patch(f"{FAMILY}/assets/jacket_001_back", json={"values": {}})
        first = await collection(client, "jacket_001", "model_pictures")
        main_first = await collection(client, "jacket_001", "main_picture")
        await client.patch(f"{FAMILY}/assets/jacket_001_side", json={"values": {}})
        again = await collection(client, "jacket_001", "model_pictures")
        main_again = await collection(client, "jacket_001", "main_picture")
        other = await collection(client, "jacket_002", "model_pictures")
        runs = (await client.get("/_sim/link-runs")).json()["runs"]
    assert ["jacket_001_front", "jacket_001_back"] == first
    assert ["jacket_001_back"] == main_first
    assert ["jacket_001_front", "jacket_001_back", "jacket_001_side"] == again
    assert ["jacket_001_side"] == main_again
    assert other is None
    assert {"products": ["jacket_001"], "product_models": []} == runs[0]["matched"]
    assert ("done", ["jacket_001"]) == (runs[1]["status"], runs[1]["updated"])


async def test_link_rules_do_not_run_on_update_or_without_a_match():
    """An update does not relink; a family selection that excludes the product links nothing."""
    async with sim(LINKS_SEED) as (client, _):
        await client.patch(f"{FAMILY}/assets/shoe_001_front", json={"values": {}})
        shoe = await collection(client, "shoe_001", "model_pictures")
        main = await collection(client, "shoe_001", "main_picture")
        await client.patch(f"{FAMILY}/assets/jacket_001_front", json={"values": {"title": []}})
        jacket = await collection(client, "jacket_001", "main_picture")
    assert (["shoe_001_front"], None, None) == (shoe, main, jacket)


async def test_link_rule_placeholder_without_value_is_reported():
    """A rule whose placeholder has no value on the asset is skipped and reported."""
    rules = [
        {
            "product_selections": [{"field": "sku", "operator": "IN", "value": ["{{title}}"]}],
            "assign_assets_to": [{"attribute": "model_pictures", "mode": "add"}],
        }
    ]
    async with sim(seed_with(product_link_rules=rules)) as (client, _):
        await client.patch(f"{FAMILY}/assets/jacket_002_back", json={"values": {}})
        runs = (await client.get("/_sim/link-runs")).json()["runs"]
        jacket = await collection(client, "jacket_002", "model_pictures")
    assert "skipped" == runs[0]["status"]
    assert '"{{title}}"' in runs[0]["reason"]
    assert jacket is None


async def test_link_rules_select_product_models_and_text_values():
    """An identifier selection matches a product model's code; NOT IN excludes."""
    rules = [
        {
            "product_selections": [
                {"field": "sku", "operator": "IN", "value": ["rain_jacket", "shoe_001"]},
                {"field": "categories", "operator": "NOT IN", "value": ["footwear"]},
            ],
            "assign_assets_to": [{"attribute": "model_pictures", "mode": "replace"}],
        }
    ]
    async with sim(seed_with(product_link_rules=rules)) as (client, _):
        await client.patch(f"{FAMILY}/assets/jacket_002_back", json={"values": {}})
        model = (await client.get(f"{API}/product-models/rain_jacket")).json()
        shoe = await collection(client, "shoe_001", "model_pictures")
    assert [{"locale": None, "scope": None, "data": ["jacket_002_back"]}] == model["values"][
        "model_pictures"
    ]
    assert shoe is None


@pytest.mark.parametrize(
    ("body", "property_"),
    [
        ({"product_link_rules": [{}, {}, {}]}, "product_link_rules"),
        (
            {
                "product_link_rules": [
                    {
                        "product_selections": [
                            {"field": "family", "operator": "IN", "value": ["x"], "locale": None}
                        ],
                        "assign_assets_to": [{"attribute": "model_pictures", "mode": "add"}],
                    }
                ]
            },
            "product_link_rules[0].product_selections[0].locale",
        ),
        (
            {
                "product_link_rules": [
                    {
                        "product_selections": [{"field": "sku", "operator": "=", "value": "x"}],
                        "assign_assets_to": [{"attribute": "model_pictures", "mode": "merge"}],
                    }
                ]
            },
            "product_link_rules[0].assign_assets_to[0].mode",
        ),
        (
            {
                "naming_convention": {
                    "source": {"property": "code", "locale": None, "channel": None},
                    "pattern": "/(?P<title>.*)/",
                    "abort_asset_creation_on_error": True,
                }
            },
            "naming_convention.pattern",
        ),
        (
            {
                "naming_convention": {
                    "source": {"property": "code"},
                    "pattern": "/(?P<product_ref>.*/",
                    "abort_asset_creation_on_error": True,
                }
            },
            "naming_convention.pattern",
        ),
        (
            {
                "naming_convention": {
                    "source": {"property": "thumbnail"},
                    "pattern": "/(.*)/",
                    "abort_asset_creation_on_error": False,
                }
            },
            "naming_convention.source.property",
        ),
    ],
)
async def test_family_rules_are_validated(body, property_):
    """Too many rules, misplaced locale, bad mode, localizable groups, bad patterns: 422."""
    async with sim(LINKS_SEED) as (client, _):
        response = await client.patch(FAMILY, json=body)
        family = (await client.get(FAMILY)).json()
    assert 422 == response.status_code
    assert (
        "The asset family has data that does not comply with the business rules."
        == response.json()["message"]
    )
    assert property_ in [e["property"] for e in response.json()["errors"]]
    assert LINKS_SEED["asset_families"][0]["product_link_rules"] == family["product_link_rules"]


def transformation(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = copy.deepcopy(LINKS_SEED["asset_families"][0]["transformations"][0])
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([transformation()], 204),
        ([transformation()] * 11, 422),
        ([transformation(filename_suffix=None)], 422),
        ([transformation(filename_suffix="bad/suffix")], 422),
        ([transformation(), transformation(label="twice")], 422),
        (
            [
                transformation(
                    operations=[
                        {"type": "colorspace", "parameters": {"colorspace": "grey"}},
                        {"type": "colorspace", "parameters": {"colorspace": "rgb"}},
                    ]
                )
            ],
            422,
        ),
        ([transformation(operations=[{"type": "thumbnail", "parameters": {"width": 0}}])], 422),
        (
            [
                transformation(
                    operations=[
                        {"type": "scale", "parameters": {"ratio": 50}},
                        {"type": "optimize_jpeg", "parameters": {"quality": 80}},
                        {
                            "type": "resolution",
                            "parameters": {
                                "resolution-x": 72,
                                "resolution-y": 72,
                                "resolution-unit": "ppi",
                            },
                        },
                    ]
                )
            ],
            204,
        ),
        (
            [transformation(target={"attribute": "main_image", "locale": None, "channel": None})],
            422,
        ),
    ],
)
async def test_transformations_are_stored_and_validated(items, expected):
    """Transformations are kept as sent when valid; limits and rules give 422."""
    async with sim(LINKS_SEED) as (client, _):
        response = await client.patch(FAMILY, json={"transformations": items})
        stored = (await client.get(FAMILY)).json()["transformations"]
    assert expected == response.status_code, response.text
    if expected == 204:
        assert items == stored


async def test_documented_family_example_still_round_trips():
    """The reference's family example (sku EQUALS, no locale/channel) is accepted as is."""
    example = {
        "code": "model_pictures",
        "naming_convention": {
            "source": {"property": "code", "channel": None, "locale": None},
            "pattern": "/(?P<product_ref>.*)-.*/",
            "abort_asset_creation_on_error": True,
        },
        "product_link_rules": [
            {
                "product_selections": [
                    {"field": "sku", "operator": "EQUALS", "value": "{{product_ref}}"}
                ],
                "assign_assets_to": [{"attribute": "model_pictures", "mode": "replace"}],
            }
        ],
    }
    async with sim(LINKS_SEED) as (client, _):
        response = await client.patch(FAMILY, json=example)
        # A code cannot hold "-", so this documented pattern refuses every code (quirk kept).
        refused = await client.patch(f"{FAMILY}/assets/jacket_001_top", json={"values": {}})
    assert 204 == response.status_code, response.text
    assert 422 == refused.status_code


@pytest.mark.parametrize(
    ("pattern", "text", "groups"),
    [
        ("/(?<ref>[a-z]+)_(?<view>\\w+)/", "jacket_front", {"ref": "jacket", "view": "front"}),
        ("/(?'ref'[a-z]+)_(?'view'\\w+)/", "jacket_front", {"ref": "jacket", "view": "front"}),
        ("/^(?<ref>[a-z]+)\\z/", "jacket", {"ref": "jacket"}),
        ("/^(?<ref>[A-Z]+)$/i", "jacket", {"ref": "jacket"}),
    ],
)
def test_the_naming_convention_pattern_accepts_pcre_group_and_anchor_syntax(
    pattern: str, text: str, groups: dict[str, str]
) -> None:
    found = compile_pcre(pattern).search(text)
    assert found is not None and found.groupdict() == groups


def test_a_pcre_end_anchor_refuses_a_trailing_newline() -> None:
    assert compile_pcre("/^(?<ref>[a-z]+)\\z/").search("jacket\n") is None
    assert compile_pcre("/^(?<ref>[a-z]+)\\\\z/").search("jacket\\z") is not None
