"""PATCH /attributes/{code} in the PIM simulator: product attribute upsert (akeneo-api §6-§8.5)."""

from __future__ import annotations

from typing import Any

from tests.sim.test_pim_support import API, BASE, FAMILY_SEED, sim

COLLECTION = {
    "type": "pim_catalog_asset_collection",
    "reference_data_name": "packshots",
    "group": "other",
    "localizable": False,
    "scopable": False,
    "labels": {"en_US": "Pictures"},
}


async def _patch(client: Any, code: str, body: dict[str, Any]) -> Any:
    return await client.patch(f"{API}/attributes/{code}", json=body)


async def test_create_then_update_an_asset_collection_attribute():
    """201 + Location, GET shows it; a label change is 204 and merges the labels."""
    async with sim(FAMILY_SEED) as (client, _):
        created = await _patch(client, "pictures", COLLECTION)
        assert 201 == created.status_code
        assert f"{BASE}{API}/attributes/pictures" == created.headers["location"]
        found = (await client.get(f"{API}/attributes/pictures")).json()
        assert ("pim_catalog_asset_collection", "packshots", "other") == (
            found["type"],
            found["reference_data_name"],
            found["group"],
        )
        again = await _patch(client, "pictures", {"labels": {"fr_FR": "Images"}})
        assert 204 == again.status_code
        found = (await client.get(f"{API}/attributes/pictures")).json()
        assert {"en_US": "Pictures", "fr_FR": "Images"} == found["labels"]
        listed = (await client.get(f"{API}/attributes")).json()["_embedded"]["items"]
        assert "pictures" in [a["code"] for a in listed]


async def test_immutable_properties_cannot_change_once_created():
    """type, localizable, scopable, reference_data_name: 422, nothing changed."""
    seed = {**FAMILY_SEED, "asset_families": [*FAMILY_SEED["asset_families"], {"code": "other"}]}
    async with sim(seed) as (client, _):
        assert 201 == (await _patch(client, "pictures", COLLECTION)).status_code
        changed = await _patch(
            client,
            "pictures",
            {"reference_data_name": "other", "localizable": True, "type": "pim_catalog_text"},
        )
        assert 422 == changed.status_code
        body = changed.json()
        assert "Validation failed." == body["message"]
        assert {"type", "localizable", "reference_data_name"} == {
            e["property"] for e in body["errors"]
        }
        assert {"This property cannot be changed."} == {e["message"] for e in body["errors"]}
        found = (await client.get(f"{API}/attributes/pictures")).json()
        assert ("packshots", False) == (found["reference_data_name"], found["localizable"])
        same = await _patch(client, "pictures", {"reference_data_name": "packshots"})
        assert 204 == same.status_code  # the same value is no change


async def test_creation_is_validated():
    """Unknown family, missing group/type, unknown type or group, unknown property, code
    mismatch: 422 each, nothing created."""
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({**COLLECTION, "reference_data_name": "nope"}, "reference_data_name", "does not exist"),
        ({k: v for k, v in COLLECTION.items() if k != "group"}, "group", "should not be blank"),
        ({k: v for k, v in COLLECTION.items() if k != "type"}, "type", "should not be blank"),
        ({**COLLECTION, "type": "pim_assets_collection"}, "type", "does not exist"),
        ({**COLLECTION, "group": "marketing"}, "group", "expects a valid group code"),
        ({**COLLECTION, "localizable": "no"}, "localizable", "a boolean is required"),
    ]
    async with sim(FAMILY_SEED) as (client, _):
        for body, prop, text in cases:
            answer = await _patch(client, "pictures", body)
            assert 422 == answer.status_code, body
            (error,) = [e for e in answer.json()["errors"] if e["property"] == prop]
            assert text in error["message"]
        unknown = await _patch(client, "pictures", {**COLLECTION, "colour": "red"})
        assert 422 == unknown.status_code
        assert unknown.json()["message"].startswith('Property "colour" does not exist.')
        assert "documentation" in unknown.json()["_links"]
        mismatch = await _patch(client, "pictures", {**COLLECTION, "code": "other"})
        assert 422 == mismatch.status_code
        assert 404 == (await client.get(f"{API}/attributes/pictures")).status_code


async def test_a_group_in_use_is_valid_and_a_text_attribute_needs_no_family():
    seed = {
        **FAMILY_SEED,
        "product_attributes": [{"code": "name", "type": "pim_catalog_text", "group": "marketing"}],
    }
    async with sim(seed) as (client, _):
        body = {"type": "pim_catalog_text", "group": "marketing"}
        assert 201 == (await _patch(client, "subtitle", body)).status_code
        seeded = await _patch(client, "name", {"labels": {"en_US": "Name"}})
        assert 204 == seeded.status_code
