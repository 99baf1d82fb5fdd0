"""Asset families, attributes and options in the simulator, against the reference's examples."""

from __future__ import annotations

import json

import pytest

from tests.sim.test_pim_support import API, BASE, FAMILY_SEED, sim

FAMILY_EXAMPLE = json.loads(
    '{"code":"model_pictures","labels":{"en_US":"Model pictures","fr_FR":"Photographies en pied"},'
    '"attribute_as_main_media":"main_image","naming_convention":{"source":{"property":"code",'
    '"channel":null,"locale":null},"pattern":"/(?P<product_ref>.*)-.*/",'
    '"abort_asset_creation_on_error":true},"product_link_rules":[{"product_selections":[{"field":'
    '"sku","operator":"EQUALS","value":"{{product_ref}}"}],"assign_assets_to":[{"attribute":'
    '"model_pictures","mode":"replace"}]}],"transformations":[{"label":"Thumbnail plus black and '
    'white transformation","filename_suffix":"_thumbnailBW","source":{"attribute":"main_image",'
    '"channel":null,"locale":null},"target":{"attribute":"thumbnail","channel":null,"locale":null},'
    '"operations":[{"type":"thumbnail","parameters":{"width":150,"height":150}},{"type":'
    '"colorspace","parameters":{"colorspace":"grey"}}]}]}'
)
ATTRIBUTES_EXAMPLE = json.loads(
    '[{"code":"model_is_wearing_size","labels":{"en_US":"Model is wearing size","fr_FR":"Le '
    'mannequin porte la taille"},"type":"single_option","value_per_locale":false,'
    '"value_per_channel":false,"is_required_for_completeness":true},{"code":"media_link","labels":'
    '{"en_US":"Media link","fr_FR":"Lien vers le média"},"type":"media_link","value_per_locale":'
    'false,"value_per_channel":false,"is_required_for_completeness":true,"prefix":'
    '"https://my-dam.com/","suffix":"?height=630&width=485","media_type":"image"},{"code":'
    '"warning_mention","labels":{"en_US":"Warning mention","fr_FR":"Phrase d\'avertissement"},'
    '"type":"text","value_per_locale":true,"value_per_channel":false,'
    '"is_required_for_completeness":false,"max_characters":"50","is_textarea":false,'
    '"is_rich_text_editor":false,"validation_rule":"none","validation_regexp":null}]'
)
FAMILY = f"{API}/asset-families/model_pictures"


async def test_family_example_is_accepted_and_returned():
    """The documented family GET example, PATCHed after its attributes exist, reads back equal."""
    async with sim() as (client, _):
        created = await client.patch(FAMILY, json={"code": "model_pictures", "labels": {}})
        for code, body in (
            ("main_image", {"type": "media_file", "media_type": "image"}),
            ("thumbnail", {"type": "media_file", "media_type": "image"}),
            ("product_ref", {"type": "text"}),
        ):
            attribute = await client.patch(f"{FAMILY}/attributes/{code}", json=body)
            assert 201 == attribute.status_code, attribute.text
        updated = await client.patch(FAMILY, json=FAMILY_EXAMPLE)
        read = await client.get(FAMILY)
    assert (201, f"{BASE}{FAMILY}") == (created.status_code, created.headers["location"])
    assert (204, "") == (updated.status_code, updated.text)
    assert FAMILY_EXAMPLE == read.json()


async def test_attributes_list_example_round_trips():
    """The documented attribute list example is accepted item by item and listed back."""
    async with sim() as (client, _):
        await client.patch(FAMILY, json={"code": "model_pictures"})
        for attribute in ATTRIBUTES_EXAMPLE:
            url = f"{FAMILY}/attributes/{attribute['code']}"
            response = await client.patch(url, json=attribute)
            assert 201 == response.status_code, response.text
        listed = (await client.get(f"{FAMILY}/attributes")).json()
    assert ATTRIBUTES_EXAMPLE == [
        {k: v for k, v in item.items() if k not in ("_links", "is_read_only")} for item in listed
    ]
    assert f"{BASE}{FAMILY}/attributes/media_link" == listed[1]["_links"]["self"]["href"]


async def test_family_list_uses_items_and_no_next_on_a_short_page():
    """The family list is HAL with _embedded.items and no next link below a full page."""
    async with sim(FAMILY_SEED) as (client, _):
        body = (await client.get(f"{API}/asset-families")).json()
    assert ["packshots"] == [item["code"] for item in body["_embedded"]["items"]]
    assert ["first", "self"] == sorted(body["_links"])


async def test_family_labels_merge_and_code_mismatch():
    """Labels merge on PATCH and a body code unlike the URL code is a 422."""
    async with sim(FAMILY_SEED) as (client, _):
        url = f"{API}/asset-families/packshots"
        await client.patch(url, json={"labels": {"fr_FR": "Photos"}})
        labels = (await client.get(url)).json()["labels"]
        mismatch = await client.patch(url, json={"code": "other"})
    assert {"en_US": "Packshots", "fr_FR": "Photos"} == labels
    assert (
        422,
        "The code of the asset family provided in the URI must be the same as the one "
        "provided in the request body.",
    ) == (mismatch.status_code, mismatch.json()["message"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"labels": None}, "The asset family has an invalid format."),
        (
            {"attribute_as_main_media": "title"},
            "The asset family has data that does not comply with the business rules.",
        ),
        (
            {"product_link_rules": [{}, {}, {}]},
            "The asset family has data that does not comply with the business rules.",
        ),
        ({"colour": "red"}, "The asset family has an invalid format."),
    ],
)
async def test_family_validation(body, message):
    """Type mismatches, a non-media main media, too many rules and unknown keys are 422s."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.patch(f"{API}/asset-families/packshots", json=body)
    assert (422, message) == (response.status_code, response.json()["message"])


async def test_unknown_family_is_404():
    """GET of an unknown family gives the documented message."""
    async with sim() as (client, _):
        response = await client.get(f"{API}/asset-families/nope/attributes")
    assert (404, 'Asset family "nope" does not exist.') == (
        response.status_code,
        response.json()["message"],
    )


@pytest.mark.parametrize(
    ("code", "body", "message"),
    [
        (
            "title",
            {"type": "text", "regular_expression": "x"},
            "The attribute has an invalid format.",
        ),
        (
            "media2",
            {"type": "media_file", "prefix": "x", "media_type": "image"},
            "The attribute has an invalid format.",
        ),
        (
            "title",
            {"type": "number"},
            "The attribute has data that does not comply with the business rules.",
        ),
        (
            "title",
            {"value_per_locale": False},
            "The attribute has data that does not comply with the business rules.",
        ),
        (
            "title",
            {"code": "other"},
            "The code of the asset family provided in the URI must be the same as the one provided "
            "in the request body.",
        ),
        (
            "label",
            {"type": "text"},
            "The attribute has data that does not comply with the business rules.",
        ),
        (
            "bad-code",
            {"type": "text"},
            'Attribute code may contain only letters, numbers and underscores. "bad-code" given',
        ),
        (
            "media2",
            {"type": "media_file"},
            "The attribute has data that does not comply with the business rules.",
        ),
    ],
)
async def test_attribute_validation(code, body, message):
    """Unknown and immutable properties, reserved and malformed codes are refused."""
    async with sim(FAMILY_SEED) as (client, _):
        url = f"{API}/asset-families/packshots/attributes/{code}"
        response = await client.patch(url, json=body)
    assert (422, message) == (response.status_code, response.json()["message"])


async def test_attribute_update_is_204_and_keeps_other_properties():
    """Updating a mutable property answers 204 and changes only that property."""
    async with sim(FAMILY_SEED) as (client, _):
        url = f"{API}/asset-families/packshots/attributes/title"
        response = await client.patch(url, json={"max_characters": 20, "labels": {"en_US": "T"}})
        attribute = (await client.get(url)).json()
    assert 204 == response.status_code
    assert (20, True, {"en_US": "T"}) == (
        attribute["max_characters"],
        attribute["value_per_locale"],
        attribute["labels"],
    )


async def test_first_media_attribute_becomes_main_media():
    """A new family's first media attribute is its attribute_as_main_media."""
    async with sim() as (client, _):
        await client.patch(f"{API}/asset-families/f", json={"code": "f"})
        await client.patch(f"{API}/asset-families/f/attributes/t", json={"type": "text"})
        await client.patch(
            f"{API}/asset-families/f/attributes/m", json={"type": "media_link", "media_type": "pdf"}
        )
        family = (await client.get(f"{API}/asset-families/f")).json()
    assert "m" == family["attribute_as_main_media"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("nope/attributes/tags/options/x", 404, 'Asset family "nope" does not exist.'),
        (
            "packshots/attributes/nope/options/x",
            404,
            'Attribute "nope" does not exist for asset family "packshots".',
        ),
        (
            "packshots/attributes/title/options/x",
            404,
            'Attribute "title" does not support options.',
        ),
    ],
)
async def test_option_errors(path, status, message):
    """Option endpoints give the documented 404 messages."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.patch(f"{API}/asset-families/{path}", json={"code": "x"})
    assert (status, message) == (response.status_code, response.json()["message"])


async def test_options_upsert_list_and_mismatch():
    """Options are created (201), updated (204), listed as a plain array; code mismatch is 422."""
    async with sim(FAMILY_SEED) as (client, _):
        base = f"{API}/asset-families/packshots/attributes/colour/options"
        created = await client.patch(
            f"{base}/blue", json={"code": "blue", "labels": {"en_US": "B"}}
        )
        updated = await client.patch(f"{base}/blue", json={"labels": {"fr_FR": "Bleu"}})
        mismatch = await client.patch(f"{base}/blue", json={"code": "green"})
        listed = (await client.get(base)).json()
        one = (await client.get(f"{base}/blue")).json()
    assert (201, 204) == (created.status_code, updated.status_code)
    assert (
        "The code of the attribute option provided in the URI must be the same as the one "
        "provided in the request body." == mismatch.json()["message"]
    )
    assert ["red", "blue"] == [o["code"] for o in listed]
    assert {"code": "blue", "labels": {"en_US": "B", "fr_FR": "Bleu"}} == one


async def test_option_limit_is_100():
    """The 101st option of an attribute is refused."""
    async with sim(FAMILY_SEED) as (client, _):
        base = f"{API}/asset-families/packshots/attributes/tags/options"
        statuses = [(await client.patch(f"{base}/o{i}", json={})).status_code for i in range(99)]
    assert [201] * 98 + [422] == statuses
