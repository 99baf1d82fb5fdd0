"""The reference's documented examples, request and answer bodies exactly as printed."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from daemon.core.errors import FieldError, PimNotFound, PimRejected
from daemon.core.records import PimAsset, PimValue
from daemon.pim import UpsertStatus

from .helpers import ACCESS, PASSWORD, SECRET, Recorder, json_answer, make_client

FAMILY_EXAMPLE = (
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

ATTRIBUTES_EXAMPLE = (
    '[{"code":"model_is_wearing_size","labels":{"en_US":"Model is wearing size","fr_FR":"Le '
    'mannequin porte la taille"},"type":"single_option","value_per_locale":false,'
    '"value_per_channel":false,"is_required_for_completeness":true},{"code":"media_link","labels":'
    '{"en_US":"Media link","fr_FR":"Lien vers le m\\u00e9dia"},"type":"media_link",'
    '"value_per_locale":false,"value_per_channel":false,"is_required_for_completeness":true,'
    '"prefix":"https://my-dam.com/","suffix":"?height=630&width=485","media_type":"image"},'
    '{"code":"warning_mention","labels":{"en_US":"Warning mention","fr_FR":"Phrase '
    'd\'avertissement"},"type":"text","value_per_locale":true,"value_per_channel":false,'
    '"is_required_for_completeness":false,"max_characters":"50","is_textarea":false,'
    '"is_rich_text_editor":false,"validation_rule":"none","validation_regexp":null}]'
)

BULK_ASSET_ANSWER = (
    '[{"code":"sku_54628_picture1","status_code":204},{"code":"sku_54628_picture2",'
    '"status_code":422,"message":"Property \'group\' does not exist."},'
    '{"code":"sku_54628_picture3","status_code":201}]'
)

PRODUCT_LINES = [
    '{"identifier":"cap","values":{"description":[{"scope":"ecommerce","locale":"en_US",'
    '"data":"My amazing cap"}]}}',
    '{"identifier":"mug","group":["promotion"]}',
    '{"identifier":"tshirt","family":"clothes"}',
]
PRODUCT_ANSWER = (
    '{"line":1,"identifier":"cap","status_code":204}\n'
    '{"line":2,"identifier":"mug","status_code":422,"message":"Property \\"group\\" does not '
    'exist."}\n'
    '{"line":3,"identifier":"tshirt","status_code":201}'
)


def raw(status: int, text: str, ctype: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=text.encode(), headers={"content-type": ctype})


async def test_token_request_is_the_documented_password_grant():
    """The token request is POST /api/oauth/v1/token with Basic auth and the documented body."""
    rec = Recorder(lambda r: raw(200, FAMILY_EXAMPLE))
    async with make_client(rec) as client:
        await client.get_asset_family("model_pictures")
    token = rec.requests[0]
    basic = base64.b64encode(f"client_1:{SECRET}".encode()).decode()
    assert ("POST", "/api/oauth/v1/token") == (token.method, token.url.path)
    assert f"Basic {basic}" == token.headers["authorization"]
    assert "application/json" == token.headers["content-type"]
    expected = {"grant_type": "password", "username": "api_user", "password": PASSWORD}
    assert expected == json.loads(token.content)
    assert f"Bearer {ACCESS}" == rec.api[0].headers["authorization"]


async def test_asset_family_get_example_is_parsed():
    """The documented family GET example gives its code, labels, main media and rules."""
    rec = Recorder(lambda r: raw(200, FAMILY_EXAMPLE))
    async with make_client(rec) as client:
        family = await client.get_asset_family("model_pictures")
    assert "/api/rest/v1/asset-families/model_pictures" == rec.api[0].url.path
    assert "GET" == rec.api[0].method
    assert "model_pictures" == family.code
    assert {"en_US": "Model pictures", "fr_FR": "Photographies en pied"} == family.labels
    assert "main_image" == family.attribute_as_main_media
    assert "/(?P<product_ref>.*)-.*/" == family.naming_convention["pattern"]
    assert 1 == len(family.product_link_rules)
    assert "_thumbnailBW" == family.transformations[0]["filename_suffix"]


async def test_attributes_list_example_is_parsed():
    """The documented attribute list gives typed attributes; "50" becomes 50."""
    rec = Recorder(lambda r: raw(200, ATTRIBUTES_EXAMPLE))
    async with make_client(rec) as client:
        attributes = await client.get_asset_attributes("model_pictures")
    assert "/api/rest/v1/asset-families/model_pictures/attributes" == rec.api[0].url.path
    by_code = {a.code: a for a in attributes}
    assert ["model_is_wearing_size", "media_link", "warning_mention"] == list(by_code)
    assert "single_option" == by_code["model_is_wearing_size"].type
    assert by_code["model_is_wearing_size"].is_required_for_completeness
    link = by_code["media_link"]
    assert ("https://my-dam.com/", "?height=630&width=485", "image") == (
        link.prefix,
        link.suffix,
        link.media_type,
    )
    assert "Lien vers le média" == link.labels["fr_FR"]
    text = by_code["warning_mention"]
    assert (True, 50, "none", None) == (
        text.value_per_locale,
        text.max_characters,
        text.validation_rule,
        text.validation_regexp,
    )


async def test_bulk_asset_patch_example():
    """The bulk asset PATCH sends a JSON array and reads the documented per-item answer."""
    rec = Recorder(lambda r: raw(200, BULK_ASSET_ANSWER))
    assets: list[PimAsset | dict[str, Any]] = [
        PimAsset("packshots", "sku_54628_picture1", {"title": [PimValue("A", locale="en_US")]}),
        {"code": "sku_54628_picture2", "group": "x"},
        PimAsset("packshots", "sku_54628_picture3"),
    ]
    async with make_client(rec) as client:
        results = await client.upsert_assets("packshots", assets)
    request = rec.api[0]
    assert ("PATCH", "/api/rest/v1/asset-families/packshots/assets") == (
        request.method,
        request.url.path,
    )
    assert "application/json" == request.headers["content-type"]
    sent = json.loads(request.content)
    assert {
        "code": "sku_54628_picture1",
        "values": {"title": [{"locale": "en_US", "channel": None, "data": "A"}]},
    } == sent[0]
    assert {"code": "sku_54628_picture2", "group": "x"} == sent[1]
    assert [("updated", 204), ("rejected", 422), ("created", 201)] == [
        (r.outcome, r.status_code) for r in results
    ]
    assert "Property 'group' does not exist." == results[1].message
    assert [0, 1, 2] == [r.index for r in results]


async def test_bulk_asset_422_items_keep_what_tells_drift_from_a_refused_value():
    """A business-rule item keeps its errors, a plain-message item has none, a 404 fails all."""
    answer = json.dumps(
        [
            {
                "code": "a1",
                "status_code": 422,
                "message": "The asset has data that does not comply with the business rules.",
                "errors": [{"property": "values.colour[0].data", "message": "Unknown option."}],
            },
            {
                "code": "a2",
                "status_code": 422,
                "message": 'Attribute "colour" does not exist for this asset family',
            },
        ]
    )
    gone = json.dumps({"code": 404, "message": 'Asset family "packshots" does not exist.'})
    assets = [PimAsset("packshots", "a1"), PimAsset("packshots", "a2")]
    async with make_client(Recorder(lambda r: raw(200, answer))) as client:
        refused = await client.upsert_assets("packshots", assets)
    async with make_client(Recorder(lambda r: raw(404, gone))) as client:
        failed = await client.upsert_assets("packshots", assets)
    assert [(FieldError("values.colour[0].data", "Unknown option."),), ()] == [
        r.errors for r in refused
    ]
    assert [("failed", PimNotFound, 404)] * 2 == [
        (r.outcome, type(r.error), r.status_code) for r in failed
    ]


async def test_product_ndjson_example():
    """Products go out as the documented NDJSON lines and come back as typed line results."""
    rec = Recorder(lambda r: raw(200, PRODUCT_ANSWER, "application/vnd.akeneo.collection+json"))
    products = [json.loads(line) for line in PRODUCT_LINES]
    products[0]["_links"] = {"self": {"href": "http://pim.test/api/rest/v1/products/cap"}}
    async with make_client(rec) as client:
        results = await client.upsert_products(products)
    request = rec.api[0]
    assert ("PATCH", "/api/rest/v1/products") == (request.method, request.url.path)
    assert "application/vnd.akeneo.collection+json" == request.headers["content-type"]
    assert "\n".join(PRODUCT_LINES).encode() == request.content
    assert [("cap", 1, "updated"), ("mug", 2, "rejected"), ("tshirt", 3, "created")] == [
        (r.value, r.line, r.outcome) for r in results
    ]
    assert 'Property "group" does not exist.' == results[1].message


async def test_product_line_errors_keep_attribute_locale_and_scope():
    """Product 422 errors keep attribute, locale and scope (as channel)."""
    answer = json.dumps(
        {
            "line": 1,
            "identifier": "cap",
            "status_code": 422,
            "message": "Validation failed.",
            "errors": [
                {
                    "property": "values",
                    "message": "This value is too long.",
                    "attribute": "description",
                    "locale": "en_US",
                    "scope": "ecommerce",
                }
            ],
        }
    )
    rec = Recorder(lambda r: raw(200, answer, "application/vnd.akeneo.collection+json"))
    async with make_client(rec) as client:
        [result] = await client.upsert_products_by_uuid([{"uuid": "cap", "values": {}}])
    assert "/api/rest/v1/products-uuid" == rec.api[0].url.path
    expected = FieldError("values", "This value is too long.", "description", "en_US", "ecommerce")
    assert (expected,) == result.errors


async def test_business_rule_422_on_single_patch_raises_rejected_with_field_errors():
    """A 422 with an errors array becomes PimRejected carrying FieldErrors."""
    body = {
        "code": 422,
        "message": "The asset has data that does not comply with the business rules.",
        "errors": [{"property": "values.title[0].data", "message": "Too long."}],
    }
    rec = Recorder(lambda r: json_answer(422, body))
    async with make_client(rec) as client:
        with pytest.raises(PimRejected) as info:
            await client.upsert_asset(PimAsset("packshots", "a1"))
    assert (FieldError("values.title[0].data", "Too long."),) == info.value.errors
    assert 422 == info.value.status_code
    assert "/api/rest/v1/asset-families/{family}/assets/{code}" == info.value.endpoint


async def test_single_patch_201_and_204():
    """A single upsert answers created (201) or updated (204) with a Location header."""
    answers = iter([201, 204])
    rec = Recorder(lambda r: httpx.Response(next(answers), headers={"Location": str(r.url)}))
    async with make_client(rec) as client:
        first = await client.upsert_asset_family("packshots", {"labels": {"en_US": "P"}})
        second = await client.upsert_attribute_option(
            "packshots", "colour", "red", {"en_US": "Red"}
        )
    assert (UpsertStatus.CREATED, UpsertStatus.UPDATED) == (first, second)
    assert {"code": "packshots", "labels": {"en_US": "P"}} == json.loads(rec.api[0].content)
    assert (
        "/api/rest/v1/asset-families/packshots/attributes/colour/options/red" == rec.api[1].url.path
    )
    assert {"code": "red", "labels": {"en_US": "Red"}} == json.loads(rec.api[1].content)
