"""The simulator's answers after its structure changed behind a client's back (UI deletions)."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.sim.pim.attributes import delete_attribute, delete_option
from daemon.sim.pim.families import delete_family
from tests.sim.test_pim_support import API, FAMILY_SEED, sim

ASSETS = f"{API}/asset-families/packshots/assets"
RULES = "The asset has data that does not comply with the business rules."


def value(data: Any, locale: str | None = None) -> list[dict[str, Any]]:
    return [{"locale": locale, "channel": None, "data": data}]


async def bulk(client, values: dict[str, Any]) -> dict[str, Any]:
    response = await client.patch(ASSETS, json=[{"code": "a1", "values": values}])
    assert 200 == response.status_code, response.text
    answer: dict[str, Any] = response.json()[0]
    return answer


async def test_a_deleted_attribute_is_refused_with_the_documented_plain_message():
    """Writing a deleted attribute gives a 422 item with a message and no errors array."""
    async with sim(FAMILY_SEED) as (client, app):
        await client.patch(f"{ASSETS}/a1", json={"code": "a1", "values": {"colour": value("red")}})
        family = app.state.pim.families["packshots"]
        delete_attribute(family, "colour")
        stored = (await client.get(f"{ASSETS}/a1")).json()["values"]
        answer = await bulk(client, {"colour": value("red")})
    assert ({}, "colour" in family.options) == (stored, False)
    expected = {
        "code": "a1",
        "status_code": 422,
        "message": 'Attribute "colour" does not exist for this asset family',
    }
    assert expected == answer


async def test_a_deleted_option_is_a_business_rule_error_on_the_value_data():
    """Writing a deleted option names the value's data path; stored values lose the option."""
    async with sim(FAMILY_SEED) as (client, app):
        tags = {"tags": value(["summer", "winter"])}
        await client.patch(f"{ASSETS}/a1", json={"code": "a1", "values": tags})
        delete_option(app.state.pim.families["packshots"], "tags", "summer")
        stored = (await client.get(f"{ASSETS}/a1")).json()["values"]["tags"][0]["data"]
        answer = await bulk(client, {"tags": value(["summer"])})
    assert ["winter"] == stored
    error = {
        "property": "values.tags[0].data",
        "message": 'The option "summer" does not exist for the attribute "tags".',
    }
    assert {"code": "a1", "status_code": 422, "message": RULES, "errors": [error]} == answer


async def test_an_attribute_recreated_with_another_type_refuses_the_old_kind():
    """A multiple-options attribute recreated as text refuses an array as a structure error."""
    async with sim(FAMILY_SEED) as (client, app):
        delete_attribute(app.state.pim.families["packshots"], "tags")
        created = await client.patch(
            f"{API}/asset-families/packshots/attributes/tags", json={"type": "text"}
        )
        answer = await bulk(client, {"tags": value(["summer"])})
    assert 201 == created.status_code
    error = {
        "property": "values.tags[0].data",
        "message": "Array value found, but a string or a null is required",
    }
    expected = {
        "code": "a1",
        "status_code": 422,
        "message": "The asset has an invalid format.",
        "errors": [error],
    }
    assert expected == answer


async def test_a_deleted_family_answers_the_whole_bulk_request_with_404():
    """After the family is deleted, its bulk endpoint and structure reads are 404."""
    async with sim(FAMILY_SEED) as (client, app):
        delete_family(app.state.pim, "packshots")
        response = await client.patch(ASSETS, json=[{"code": "a1", "values": {}}])
        attributes = await client.get(f"{API}/asset-families/packshots/attributes")
    message = 'Asset family "packshots" does not exist.'
    assert (404, {"code": 404, "message": message}) == (response.status_code, response.json())
    assert 404 == attributes.status_code


async def test_a_lowered_max_characters_is_a_plain_business_rule_error():
    """A text longer than a newly lowered limit is refused on its data, the attribute intact."""
    async with sim(FAMILY_SEED) as (client, _):
        lowered = await client.patch(
            f"{API}/asset-families/packshots/attributes/title", json={"max_characters": 3}
        )
        answer = await bulk(client, {"title": value("abcd", "en_US")})
    assert 204 == lowered.status_code
    error = {
        "property": "values.title[0].data",
        "message": "This value is too long. It should have 3 characters or less.",
    }
    assert {"code": "a1", "status_code": 422, "message": RULES, "errors": [error]} == answer


async def test_deleting_what_does_not_exist_is_a_key_error():
    """The UI helpers refuse to delete what the simulated PIM does not have."""
    async with sim(FAMILY_SEED) as (_, app):
        family = app.state.pim.families["packshots"]
        with pytest.raises(KeyError):
            delete_attribute(family, "nope")
        with pytest.raises(KeyError):
            delete_option(family, "tags", "nope")
        with pytest.raises(KeyError):
            delete_family(app.state.pim, "nope")
