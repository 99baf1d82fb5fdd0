"""Assets and media files in the simulator: bulk and single upserts, validation, lists, files."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.sim.test_pim_support import API, BASE, FAMILY_SEED, FakeClock, sim

ASSETS = f"{API}/asset-families/packshots/assets"
RULES = "The asset has data that does not comply with the business rules."


async def upload(client, name="a.png", content=b"\x89PNG....", mime="image/png") -> str:
    response = await client.post(f"{API}/asset-media-files", files={"file": (name, content, mime)})
    assert 201 == response.status_code, response.text
    return str(response.headers["asset-media-file-code"])


async def test_bulk_example_with_a_422_item():
    """The documented bulk response: 204 for an update, 422 for a bad item, 201 for a create."""
    async with sim(FAMILY_SEED) as (client, _):
        await client.patch(f"{ASSETS}/sku_54628_picture1", json={"code": "sku_54628_picture1"})
        response = await client.patch(
            ASSETS,
            json=[
                {"code": "sku_54628_picture1", "values": {}},
                {"code": "sku_54628_picture2", "group": ["promotion"]},
                {"code": "sku_54628_picture3", "values": {}},
            ],
        )
    assert 200 == response.status_code
    assert (
        json.loads(
            '[{"code":"sku_54628_picture1","status_code":204},{"code":"sku_54628_picture2",'
            '"status_code":422,"message":"Property \'group\' does not exist."},'
            '{"code":"sku_54628_picture3","status_code":201}]'
        )
        == response.json()
    )


@pytest.mark.parametrize(
    ("family", "body", "headers", "status", "message"),
    [
        (
            "bad-code",
            "[",
            {},
            422,
            'Asset family code may contain only letters, numbers and underscores. "bad-code" given',
        ),
        ("nope", "[", {}, 404, 'Asset family "nope" does not exist.'),
        ("packshots", "[", {}, 400, "Invalid json message received"),
        ("packshots", '{"code":"a"}', {}, 400, "The list of assets has an invalid format."),
        ("packshots", "[1]", {}, 400, "The list of assets has an invalid format."),
        (
            "packshots",
            json.dumps([{"code": f"a{i}"} for i in range(101)]),
            {},
            413,
            "Too many resources to process, 100 is the maximum allowed.",
        ),
        (
            "packshots",
            "[]",
            {"Content-Type": "application/vnd.akeneo.collection+json"},
            415,
            "'application/vnd.akeneo.collection+json' in 'Content-type' header is not valid.  "
            "Only 'application/json' is allowed.",
        ),
    ],
)
async def test_bulk_whole_request_checks_in_documented_order(
    family, body, headers, status, message
):
    """Family code, unknown family, JSON, shape and size are checked in that order."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.patch(
            f"{API}/asset-families/{family}/assets",
            content=body,
            headers={"Content-Type": "application/json", **headers},
        )
    assert (status, message) == (response.status_code, response.json()["message"])


def value(data: Any, locale: str | None = None, channel: str | None = None) -> list[Any]:
    return [{"locale": locale, "channel": channel, "data": data}]


@pytest.mark.parametrize(
    ("values", "message", "errors"),
    [
        ({"foo": value("x")}, 'Attribute "foo" does not exist for this asset family', None),
        (
            {"product_ref": value("x")},
            'Attribute "product_ref" does not exist for this asset family',
            None,
        ),
        (
            {"title": [{"locale": "en_US", "data": "x"}]},
            "The asset has an invalid format.",
            [("values.title[0]", "The property channel is required")],
        ),
        (
            {"width": value(5)},
            "The asset has an invalid format.",
            [("values.width[0].data", "Integer value found, but a string or a null is required")],
        ),
        (
            {"published": value("yes")},
            "The asset has an invalid format.",
            [
                (
                    "values.published[0].data",
                    "String value found, but a boolean or a null is required",
                )
            ],
        ),
        (
            {"title": value("x" * 11, "en_US")},
            RULES,
            [
                (
                    "values.title[0].data",
                    "This value is too long. It should have 10 characters or less.",
                )
            ],
        ),
        (
            {"title": value("x")},
            RULES,
            [
                (
                    "values.title[0].locale",
                    'The attribute "title" is localizable: a locale is required.',
                )
            ],
        ),
        (
            {"email": value("x", "en_US")},
            RULES,
            [
                (
                    "values.email[0].locale",
                    'The attribute "email" is not localizable: the locale must be null.',
                ),
                ("values.email[0].data", "This value is not a valid email address."),
            ],
        ),
        (
            {"title": value("x", "xx_XX")},
            RULES,
            [("values.title[0].locale", 'The locale "xx_XX" is not activated.')],
        ),
        (
            {"banner": value("x", "de_DE", "ecommerce")},
            RULES,
            [
                (
                    "values.banner[0].locale",
                    'The locale "de_DE" is not activated for the channel "ecommerce".',
                )
            ],
        ),
        (
            {"banner": value("x", "en_US", "mobile")},
            RULES,
            [("values.banner[0].channel", 'The channel "mobile" does not exist.')],
        ),
        (
            {"width": value("1.5")},
            RULES,
            [("values.width[0].data", "This value should not be a decimal.")],
        ),
        (
            {"width": value("101")},
            RULES,
            [("values.width[0].data", "This value should be less than or equal to 100.")],
        ),
        (
            {"width": value("abc")},
            RULES,
            [("values.width[0].data", "This value should be a number.")],
        ),
        (
            {"colour": value("green")},
            RULES,
            [
                (
                    "values.colour[0].data",
                    'The option "green" does not exist for the attribute "colour".',
                )
            ],
        ),
        (
            {"tags": value(["summer", "spring"])},
            RULES,
            [
                (
                    "values.tags[0].data",
                    'The option "spring" does not exist for the attribute "tags".',
                )
            ],
        ),
        (
            {"sku": value("abc")},
            RULES,
            [
                (
                    "values.sku[0].data",
                    'The value "abc" does not match the regular expression "/^[A-Z]+$/".',
                )
            ],
        ),
        (
            {"shot_on": value("yesterday")},
            RULES,
            [("values.shot_on[0].data", 'The date "yesterday" is not a valid ISO-8601 date.')],
        ),
        (
            {"media": value("0/0/0/0/nope.png")},
            RULES,
            [("values.media[0].data", 'The file "0/0/0/0/nope.png" was not found.')],
        ),
    ],
)
async def test_value_validation_names_every_error(values, message, errors):
    """Each bad value gives the documented message and every error with its property path."""
    seed = json.loads(json.dumps(FAMILY_SEED))
    seed["asset_families"][0]["attributes"] = [
        a for a in seed["asset_families"][0]["attributes"] if a["code"] != "product_ref"
    ]
    async with sim(seed) as (client, _):
        response = await client.patch(f"{ASSETS}/a1", json={"code": "a1", "values": values})
    body = response.json()
    assert (422, message) == (response.status_code, body["message"])
    expected = None if errors is None else [{"property": p, "message": m} for p, m in errors]
    assert expected == body.get("errors")


async def test_media_file_extension_and_size_checked_at_assignment():
    """A file with a refused extension or over max_file_size is reported when assigned."""
    async with sim(FAMILY_SEED) as (client, _):
        gif = await upload(client, "a.gif", b"GIF89a", "image/gif")
        big = await upload(client, "b.png", b"x" * 2000)
        response = await client.patch(
            f"{ASSETS}/a1", json={"code": "a1", "values": {"media": value(gif)}}
        )
        too_big = await client.patch(
            f"{ASSETS}/a1", json={"code": "a1", "values": {"media": value(big)}}
        )
    assert (
        'The file extension "gif" is not allowed. Allowed extensions are: png, jpg.'
        == (response.json()["errors"][0]["message"])
    )
    assert (
        "The file exceeds the max file size set for the attribute (0.001 MB)."
        == (too_big.json()["errors"][0]["message"])
    )


async def test_single_patch_get_and_read_only_extras():
    """PATCH one answers 201 then 204 with Location; GET adds download links and linked_data."""
    async with sim(FAMILY_SEED) as (client, _):
        code = await upload(client)
        values = {
            "media": value(code),
            "dam_url": value("p/1.png"),
            "title": value("Hello", "en_US"),
            "tags": value(["summer"]),
            "published": value(True),
        }
        created = await client.patch(f"{ASSETS}/a1", json={"code": "a1", "values": values})
        updated = await client.patch(f"{ASSETS}/a1", json={"code": "a1", "_links": {}})
        asset = (await client.get(f"{ASSETS}/a1")).json()
    assert (201, 204) == (created.status_code, updated.status_code)
    assert f"{BASE}{ASSETS}/a1" == created.headers["location"]
    assert {"code", "values", "created", "updated"} == set(asset)
    assert {"download": {"href": f"{BASE}{API}/asset-media-files/{code}"}} == (
        asset["values"]["media"][0]["_links"]
    )
    assert {
        "full_url": "https://dam.example/p/1.png?w=100",
        "prefix": "https://dam.example/",
        "suffix": "?w=100",
    } == asset["values"]["dam_url"][0]["linked_data"]
    assert value("Hello", "en_US") == asset["values"]["title"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"code": "other"},
            "The code of the asset provided in the URI must be the same as the one "
            "provided in the request body.",
        ),
        (
            {"code": "a1", "created": "2020-01-01T00:00:00+00:00"},
            "Property 'created' does not exist.",
        ),
        ({"code": "a1", "values": []}, "The asset has an invalid format."),
    ],
)
async def test_single_patch_refusals(body, message):
    """Code mismatch, read-only keys sent back and a non-object values are 422s."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.patch(f"{ASSETS}/a1", json=body)
    assert (422, message) == (response.status_code, response.json()["message"])


async def test_invalid_asset_code_in_url():
    """An asset code outside the regex is refused with the assertion message."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.patch(f"{ASSETS}/x-y", json={})
    assert (
        'Asset code may contain only letters, numbers and underscores. "x-y" given'
        == (response.json()["message"])
    )


async def test_merge_null_erases_and_updated_moves_only_on_change():
    """Values merge per locale; data null erases one; updated changes only with the data."""
    clock = FakeClock()
    async with sim(FAMILY_SEED, clock=clock) as (client, _):
        url = f"{ASSETS}/a1"
        await client.patch(url, json={"code": "a1", "values": {"title": value("A", "en_US")}})
        first = (await client.get(url)).json()
        clock.advance(60)
        await client.patch(url, json={"code": "a1", "values": {"title": value("A", "en_US")}})
        same = (await client.get(url)).json()
        clock.advance(60)
        await client.patch(url, json={"values": {"title": value("B", "fr_FR")}})
        merged = (await client.get(url)).json()
        await client.patch(url, json={"values": {"title": value(None, "en_US")}})
        erased = (await client.get(url)).json()
    assert "2024-05-31T09:23:34+00:00" == first["created"] == first["updated"]
    assert first["updated"] == same["updated"]
    assert "2024-05-31T09:25:34+00:00" == merged["updated"]
    assert value("A", "en_US") + value("B", "fr_FR") == merged["values"]["title"]
    assert value("B", "fr_FR") == erased["values"]["title"]


async def test_delete_and_unknown_asset():
    """DELETE answers 204, then the documented 404s for delete and GET."""
    async with sim(FAMILY_SEED) as (client, _):
        await client.patch(f"{ASSETS}/a1", json={"code": "a1"})
        deleted = await client.delete(f"{ASSETS}/a1")
        again = await client.delete(f"{ASSETS}/a1")
        missing = await client.get(f"{ASSETS}/a1")
    assert 204 == deleted.status_code
    assert (404, "Resource `a1` does not exist.") == (again.status_code, again.json()["message"])
    assert (
        'Asset "a1" does not exist for the asset family "packshots".' == (missing.json()["message"])
    )


async def test_a_full_page_is_followed_by_an_empty_page_without_next():
    """100 assets give one full page with next, then an empty page without next."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.patch(ASSETS, json=[{"code": f"a{i:03}"} for i in range(100)])
        assert [201] * 100 == [r["status_code"] for r in response.json()]
        first = (await client.get(ASSETS, params={"channel": "ecommerce"})).json()
        second = (await client.get(first["_links"]["next"]["href"])).json()
    assert 100 == len(first["_embedded"]["items"])
    assert {"search_after": ["a099"], "channel": ["ecommerce"]} == parse_qs(
        urlsplit(first["_links"]["next"]["href"]).query
    )
    assert [] == second["_embedded"]["items"]
    assert "next" not in second["_links"]
    assert f"{BASE}{ASSETS}?channel=ecommerce" == second["_links"]["first"]["href"]


async def test_channel_and_locales_filters():
    """channel keeps values of that channel or none; locales keeps listed or null locales."""
    async with sim(FAMILY_SEED) as (client, _):
        values = {
            "banner": value("e", "en_US", "ecommerce") + value("p", "de_DE", "print"),
            "title": value("t", "fr_FR"),
            "email": value("a@b.co"),
        }
        await client.patch(f"{ASSETS}/a1", json={"code": "a1", "values": values})
        body = (await client.get(ASSETS, params={"channel": "print", "locales": "en_US"})).json()
        bad = await client.get(ASSETS, params={"channel": "mobile"})
    assert {"email": value("a@b.co")} == body["_embedded"]["items"][0]["values"]
    assert 422 == bad.status_code


async def test_updated_and_code_search_filters():
    """updated >, <, BETWEEN, NOT BETWEEN, SINCE LAST N DAYS and code IN select the right assets."""
    clock = FakeClock()
    async with sim(FAMILY_SEED, clock=clock, token_ttl=86400) as (client, _):
        for code in ("a1", "a2", "a3"):
            await client.patch(f"{ASSETS}/{code}", json={"code": code})
            clock.advance(3600)

        async def codes(search: Any) -> list[str]:
            response = await client.get(ASSETS, params={"search": json.dumps(search)})
            assert 200 == response.status_code, response.text
            return [item["code"] for item in response.json()["_embedded"]["items"]]

        after = await codes({"updated": [{"operator": ">", "value": "2024-05-31T11:00:00Z"}]})
        before = await codes({"updated": [{"operator": "<", "value": "2024-05-31T10:00:00"}]})
        window = ["2024-05-31T10:00:00+00:00", "2024-05-31T11:00:00+00:00"]
        between = await codes({"updated": [{"operator": "BETWEEN", "value": window}]})
        outside = await codes({"updated": [{"operator": "NOT BETWEEN", "value": window}]})
        recent = await codes({"updated": [{"operator": "SINCE LAST N DAYS", "value": 1}]})
        by_code = await codes({"code": [{"operator": "IN", "value": ["a3", "a1", "zz"]}]})
        both = await codes(
            {
                "code": [{"operator": "IN", "value": ["a1", "a3"]}],
                "updated": [{"operator": ">", "value": "2024-05-31T11:00:00Z"}],
            }
        )
    assert (["a3"], ["a1"], ["a2"], ["a1", "a3"]) == (after, before, between, outside)
    assert (["a1", "a2", "a3"], ["a1", "a3"], ["a3"]) == (recent, by_code, both)


@pytest.mark.parametrize(
    ("search", "status", "message"),
    [
        ("{nope", 400, "The search query parameter must be a valid JSON."),
        (
            '{"updated":[{"operator":"=","value":"2024-01-01T00:00:00Z"}]}',
            422,
            "The search filters have an invalid format.",
        ),
        (
            '{"updated":[{"operator":">","value":"yesterday"}]}',
            422,
            "The search filters have an invalid format.",
        ),
        (
            '{"code":[{"operator":"NOT IN","value":["a"]}]}',
            422,
            "The search filters have an invalid format.",
        ),
        ('{"media":[{"operator":"EMPTY"}]}', 422, "The search filters have an invalid format."),
    ],
)
async def test_bad_search_filters(search, status, message):
    """Non-JSON search is a 400 and a filter the simulator does not accept is a 422."""
    async with sim(FAMILY_SEED) as (client, _):
        response = await client.get(ASSETS, params={"search": search})
    assert (status, message) == (response.status_code, response.json()["message"])


async def test_media_upload_and_download():
    """An upload answers 201 with a hashed code and Location; the download returns the bytes."""
    async with sim(FAMILY_SEED) as (client, app):
        response = await client.post(
            f"{API}/asset-media-files", files={"file": ("my photo.png", b"PNGDATA", "image/png")}
        )
        code = response.headers["asset-media-file-code"]
        download = await client.get(f"{API}/asset-media-files/{code}")
        stats = (await client.get("/_sim/stats")).json()
    assert (201, b"") == (response.status_code, response.content)
    assert re.fullmatch(r"[0-9a-f]/[0-9a-f]/[0-9a-f]/[0-9a-f]/[0-9a-f]{40}_my_photo\.png", code)
    assert f"{BASE}{API}/asset-media-files/{code}" == response.headers["location"]
    assert (b"PNGDATA", "image/png") == (download.content, download.headers["content-type"])
    assert 'attachment; filename="my photo.png"' == download.headers["content-disposition"]
    assert (1, 7) == (stats["uploads"], stats["upload_bytes"])


async def test_media_upload_errors():
    """A non-multipart upload is a 415, a missing file part a 422, an unknown code a 404."""
    async with sim(FAMILY_SEED) as (client, _):
        wrong = await client.post(f"{API}/asset-media-files", json={"file": "x"})
        missing = await client.post(f"{API}/asset-media-files", files={"other": ("a", b"x")})
        unknown = await client.get(f"{API}/asset-media-files/0/0/0/0/x.png")
    assert 415 == wrong.status_code
    assert (422, 'Property "file" is required.') == (missing.status_code, missing.json()["message"])
    assert 404 == unknown.status_code
