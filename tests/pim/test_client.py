"""PimClient behaviour over MockTransport: paging, splitting, media, lifecycle, settings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from daemon.core.errors import PimProtocolError, PimUnavailable, TransientError
from daemon.core.records import PimAsset
from daemon.pim import AppTokenAuth, ClientState, PasswordAuth, PimClient, UpdatedFilter
from daemon.pim.urls import PRODUCT_ATTRIBUTE, path
from daemon.settings.connections import PimSettings

from .helpers import Recorder, json_answer, make_client


def asset(code: str) -> dict[str, Any]:
    return {"code": code, "values": {}, "created": "2021-05-31T09:23:34+00:00", "updated": None}


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


async def test_assets_follow_next_links_on_our_origin():
    """search_after pages are followed via _links.next, on the configured host only."""

    def handler(request):
        after = query(request).get("search_after", [None])[0]
        if after is None:
            return json_answer(
                200,
                {
                    "_links": {
                        "next": {
                            "href": "http://internal:8080/api/rest/v1/asset-families"
                            "/packshots/assets?search_after=a2"
                        }
                    },
                    "_embedded": {"items": [asset("a1"), asset("a2")]},
                },
            )
        return json_answer(200, {"_links": {}, "_embedded": {"_items": [asset("a3")]}})

    rec = Recorder(handler)
    async with make_client(rec) as client:
        codes = [a.code async for a in client.iter_assets("packshots")]
    assert ["a1", "a2", "a3"] == codes
    assert ["pim.test", "pim.test"] == [r.url.host for r in rec.api]


async def test_repeated_next_link_is_a_protocol_error():
    """A next link pointing back to a page already read stops with a protocol error."""
    page = {
        "_links": {"next": {"href": "http://pim.test/api/rest/v1/asset-families?search_after=x"}},
        "_embedded": {"items": [{"code": "x"}]},
    }
    async with make_client(Recorder(lambda r: json_answer(200, page))) as client:
        with pytest.raises(PimProtocolError, match="repeats"):
            [f async for f in client.iter_asset_families()]


async def test_asset_filters_updated_codes_channel_locales():
    """updated is sent in ISO UTC, codes IN in chunks of 100, channel and locales as given."""
    rec = Recorder(lambda r: json_answer(200, {"_embedded": {"items": []}}))
    since = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    codes = [f"c{i}" for i in range(250)]
    async with make_client(rec) as client:
        found = [
            a
            async for a in client.iter_assets(
                "packshots",
                updated=[UpdatedFilter(">", since)],
                codes=codes,
                channel="ecommerce",
                locales=["en_US", "fr_FR"],
            )
        ]
    assert [] == found
    assert 3 == len(rec.api)
    searches = [json.loads(query(r)["search"][0]) for r in rec.api]
    assert [{"operator": ">", "value": "2024-03-01T12:00:00Z"}] == searches[0]["updated"]
    assert [100, 100, 50] == [len(s["code"][0]["value"]) for s in searches]
    assert codes == [c for s in searches for c in s["code"][0]["value"]]
    assert (["ecommerce"], ["en_US,fr_FR"]) == (
        query(rec.api[0])["channel"],
        query(rec.api[0])["locales"],
    )


def test_updated_filter_refuses_naive_datetimes():
    """A naive datetime in a filter is refused rather than shifted by the host's offset."""
    with pytest.raises(ValueError, match="timezone-aware"):
        UpdatedFilter(">", datetime(2024, 1, 1)).to_json()


async def test_250_assets_go_in_3_concurrent_requests_in_input_order():
    """250 assets are split 100/100/50, sent concurrently, results in input order."""
    in_flight = peak = 0

    async def handler(request):
        nonlocal in_flight, peak
        await request.aread()
        if request.url.path == "/api/oauth/v1/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        items = json.loads(request.content)
        return json_answer(200, [{"code": i["code"], "status_code": 201} for i in items])

    sizes = []
    client = PimClient(
        "http://pim.test",
        auth=PasswordAuth(client_id="c", secret="s", username="u", password="p"),
        transport=httpx.MockTransport(handler),
        max_in_flight=2,
    )

    class Observer:
        def request_finished(self, *, endpoint, bytes_sent, **_):
            if endpoint.endswith("/assets"):
                sizes.append(endpoint)

        def request_retried(self, **_):
            pass

        def throttled(self, **_):
            pass

        def bytes_streamed(self, **_):
            pass

    client.upstream.observer = Observer()
    assets = [PimAsset("packshots", f"a{i:03}") for i in range(250)]
    async with client:
        results = await client.upsert_assets("packshots", assets)
    assert [f"a{i:03}" for i in range(250)] == [r.code for r in results]
    assert list(range(250)) == [r.index for r in results]
    assert all(r.outcome == "created" for r in results)
    assert ["/api/rest/v1/asset-families/{family}/assets"] * 3 == sizes
    assert 2 == peak


async def test_unsendable_assets_are_rejected_locally_and_the_rest_goes_on():
    """An asset without code or of another family is rejected by name; the others are sent."""
    rec = Recorder(
        lambda r: json_answer(
            200, [{"code": i["code"], "status_code": 204} for i in json.loads(r.content)]
        )
    )
    items: list[Any] = [{"values": {}}, PimAsset("notices", "n1"), {"code": "ok1"}]
    async with make_client(rec) as client:
        results = await client.upsert_assets("packshots", items)
    assert [("rejected", None), ("rejected", "n1"), ("updated", "ok1")] == [
        (r.outcome, r.code) for r in results
    ]
    assert "code" == results[0].errors[0].property
    assert "family" == results[1].errors[0].property
    assert [{"code": "ok1"}] == json.loads(rec.api[0].content)


async def test_ndjson_splits_at_100_lines_and_rejects_bad_lines_locally():
    """230 products go in 100/100/30 lines; a line without identifier is not sent."""

    def handler(request):
        lines = request.content.decode().split("\n")
        answer = [
            json.dumps({"line": n, "identifier": json.loads(x)["identifier"], "status_code": 201})
            for n, x in enumerate(lines, start=1)
        ]
        return httpx.Response(
            200,
            content="\n".join(answer).encode(),
            headers={"content-type": "application/vnd.akeneo.collection+json"},
        )

    rec = Recorder(handler)
    products = [{"identifier": f"sku{i}"} for i in range(230)]
    products.insert(5, {"family": "x"})
    async with make_client(rec) as client:
        results = await client.upsert_products(products)
    assert [100, 100, 30] == sorted((len(r.content.split(b"\n")) for r in rec.api), reverse=True)
    assert not any(r.content.endswith(b"\n") for r in rec.api)
    assert 231 == len(results)
    assert ("rejected", None) == (results[5].outcome, results[5].line)
    assert "sku5" == results[6].value
    assert 230 == sum(r.outcome == "created" for r in results)


async def test_upload_from_path_reopens_the_file_per_attempt(tmp_path):
    """A file upload is retried after a 503 with the full body, as one multipart part."""
    file = tmp_path / "pack shot.png"
    file.write_bytes(b"\x89PNG" + bytes(range(256)) * 4000)
    bodies = []

    def handler(request):
        bodies.append(request.content)
        if len(bodies) == 1:
            return httpx.Response(503)
        return httpx.Response(201, headers={"asset-media-file-code": "a/b/c/abc_pack_shot.png"})

    rec = Recorder(handler)
    async with make_client(rec) as client:
        code = await client.upload_media_file(file)
    assert "a/b/c/abc_pack_shot.png" == code
    assert 2 == len(bodies) and bodies[0] == bodies[1]
    request = rec.api[1]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert str(len(request.content)) == request.headers["content-length"]
    assert b'name="file"; filename="pack shot.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG' in (
        request.content
    )
    assert file.read_bytes() in request.content


async def test_upload_from_stream_factory_calls_it_per_attempt():
    """A stream factory is called once per attempt; the consumed stream is never reused."""
    calls = 0

    def factory():
        nonlocal calls
        calls += 1

        async def gen() -> AsyncIterator[bytes]:
            yield b"%PDF-1.4 "
            yield b"body"

        return gen()

    answers = iter(
        [httpx.Response(502), httpx.Response(201, headers={"Asset-Media-File-Code": "x/y_n.pdf"})]
    )
    rec = Recorder(lambda r: next(answers))
    async with make_client(rec) as client:
        code = await client.upload_media_file(factory, filename="n.pdf")
    assert ("x/y_n.pdf", 2) == (code, calls)
    assert b"Content-Type: application/pdf\r\n\r\n%PDF-1.4 body\r\n--" in rec.api[1].content


async def test_download_keeps_slashes_and_streams_chunks():
    """The media code's slashes are sent unencoded; the body arrives in chunks."""
    payload = b"x" * 700_000

    def handler(request):
        return httpx.Response(
            200,
            content=payload,
            headers={
                "content-type": "image/png",
                "content-disposition": 'attachment; filename="shot.png"',
            },
        )

    rec = Recorder(handler)
    async with make_client(rec) as client:
        async with client.download_media_file("0/0/9/d/009d_shot.png") as download:
            chunks = [c async for c in download]
    assert (
        "/api/rest/v1/asset-media-files/0/0/9/d/009d_shot.png" == rec.api[0].url.raw_path.decode()
    )
    assert payload == b"".join(chunks)
    assert len(chunks) > 1
    assert ("image/png", "shot.png") == (download.mime_type, download.filename)


async def test_family_structure_and_channels():
    """get_family_structure reads options of option attributes; channels page by offset."""

    def handler(request):
        path = request.url.path
        if path == "/api/rest/v1/asset-families/packshots":
            return json_answer(200, {"code": "packshots", "attribute_as_main_media": "media"})
        if path.endswith("/attributes"):
            return json_answer(
                200,
                [
                    {"code": "media", "type": "media_file", "media_type": "image"},
                    {"code": "colour", "type": "single_option"},
                ],
            )
        if path.endswith("/colour/options"):
            return json_answer(200, [{"code": "red", "labels": {}}, {"code": "blue"}])
        if path == "/api/rest/v1/channels":
            page = int(query(request).get("page", ["1"])[0])
            assert ["100"] == query(request)["limit"]
            links = {"next": {"href": "http://pim.test/api/rest/v1/channels?page=2&limit=100"}}
            items = [{"code": f"ch{page}", "locales": ["en_US"]}]
            return json_answer(
                200, {"_links": links if page == 1 else {}, "_embedded": {"items": items}}
            )
        return json_answer(404, {"code": 404, "message": "nope"})

    async with make_client(Recorder(handler)) as client:
        family = await client.get_family_structure("packshots")
        channels = [c async for c in client.iter_channels()]
    assert {"colour": frozenset({"red", "blue"})} == family.options
    assert ("media", "image") == (
        family.attribute_as_main_media,
        family.attributes["media"].media_type,
    )
    assert ["ch1", "ch2"] == [c.code for c in channels]


async def test_product_attribute_get():
    """An asset collection product attribute names its asset family."""
    body = {
        "code": "packshots",
        "type": "pim_catalog_asset_collection",
        "reference_data_name": "packshots",
    }
    async with make_client(Recorder(lambda r: json_answer(200, body))) as client:
        attribute = await client.get_product_attribute("packshots")
    assert (True, "packshots") == (attribute.is_asset_collection, attribute.reference_data_name)


async def test_lifecycle_states_and_idempotent_close():
    """The client goes UNOPENED -> OPENED -> CLOSED, closes twice safely, refuses use after."""
    client = make_client(Recorder(lambda r: json_answer(200, {"code": "p"})))
    assert ClientState.UNOPENED == client.state
    async with client:
        assert ClientState.OPENED == client.state  # type: ignore[comparison-overlap]
    assert ClientState.CLOSED == client.state
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_asset_family("p")
    with pytest.raises(RuntimeError):
        async with client:
            pass


def test_from_settings_builds_both_auth_modes():
    """Connection settings give PasswordAuth with explicit timeouts; a token gives AppTokenAuth."""
    connection = PimSettings(
        base_url="https://pim.example.com",
        client_id="c",
        secret=SecretStr("s3"),
        username="u",
        password=SecretStr("p4"),
        refresh_margin=30,
    )
    client = PimClient.from_settings(connection)
    assert isinstance(client.auth, PasswordAuth)
    assert 30 == client.auth.refresh_margin
    timeout = client.upstream.client.timeout
    assert (5.0, 60.0, 60.0, 30.0) == (timeout.connect, timeout.read, timeout.write, timeout.pool)
    assert 4 == client.upstream.limiter.max_in_flight
    app = PimClient.from_settings(
        PimSettings(base_url="https://pim.example.com", token=SecretStr("t"))
    )
    assert isinstance(app.auth, AppTokenAuth)


async def test_429_storm_is_retried_within_the_limiter():
    """429s with Retry-After pause and retry; max_in_flight is never exceeded."""
    in_flight = peak = calls = 0

    async def handler(request):
        nonlocal in_flight, peak, calls
        if request.url.path == "/api/oauth/v1/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        in_flight += 1
        peak = max(peak, in_flight)
        calls += 1
        n = calls
        await asyncio.sleep(0.001)
        in_flight -= 1
        if n <= 10:  # the first ten answers are 429s, whoever gets them
            return httpx.Response(429, headers={"Retry-After": "1"})
        return json_answer(200, {"code": "p"})

    client = make_client(handler, max_in_flight=3)
    client.upstream.retry = type(client.upstream.retry)(
        attempts=12, wait_initial=0, wait_max=0, retry_after_max=0.001
    )
    async with client:
        families = await asyncio.gather(*(client.get_asset_family("p") for _ in range(10)))
    assert (10, 20) == (len(families), calls)
    assert 3 == peak


async def test_empty_bulk_input_sends_nothing():
    """No items means no request and no result."""
    rec = Recorder(lambda r: json_answer(500, {}))
    async with make_client(rec) as client:
        assert [] == await client.upsert_assets("packshots", [])
        assert [] == await client.upsert_products([])
    assert [] == rec.requests


async def test_transient_bulk_failure_marks_items_failed_with_transient_error():
    """A bulk request failing with 503 after all retries marks its items failed, retryable."""
    rec = Recorder(lambda r: httpx.Response(503, text="<html>busy</html>"))
    async with make_client(rec) as client:
        results = await client.upsert_assets("packshots", [{"code": "a"}, {"code": "b"}])
    assert [("failed", 503), ("failed", 503)] == [(r.outcome, r.status_code) for r in results]
    assert all(isinstance(r.error, TransientError) for r in results)
    assert 3 == len(rec.api)


async def test_download_interrupted_mid_body_is_unavailable():
    """A connection lost while reading a download is PimUnavailable naming the endpoint."""

    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"partial"
            raise httpx.ReadError("reset")

    rec = Recorder(lambda r: httpx.Response(200, stream=Broken()))
    async with make_client(rec) as client:
        with pytest.raises(PimUnavailable) as info:
            async with client.download_media_file("a/b.png") as download:
                [c async for c in download]
    assert "/api/rest/v1/asset-media-files/{code}" == info.value.endpoint
    assert "download interrupted" in str(info.value)


def test_path_encoding_keeps_slashes_only():
    """Path parameters are percent-encoded except for slashes."""
    assert "/api/rest/v1/products/a/b%20c%3F" == path(
        PRODUCT_ATTRIBUTE.replace("attributes", "products"), code="a/b c?"
    )


T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 2, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (UpdatedFilter(">", T0), {"operator": ">", "value": "2024-01-01T00:00:00Z"}),
        (UpdatedFilter("<", T1), {"operator": "<", "value": "2024-02-01T12:30:00Z"}),
        (
            UpdatedFilter("BETWEEN", (T0, T1)),
            {"operator": "BETWEEN", "value": ["2024-01-01T00:00:00Z", "2024-02-01T12:30:00Z"]},
        ),
        (
            UpdatedFilter("NOT BETWEEN", (T0, T1)),
            {"operator": "NOT BETWEEN", "value": ["2024-01-01T00:00:00Z", "2024-02-01T12:30:00Z"]},
        ),
        (UpdatedFilter("SINCE LAST N DAYS", 4), {"operator": "SINCE LAST N DAYS", "value": 4}),
    ],
)
def test_updated_filter_json(condition, expected):
    """Each updated operator is written as the reference shows it."""
    assert expected == condition.to_json()


@pytest.mark.parametrize(
    "condition",
    [
        UpdatedFilter("BETWEEN", T0),
        UpdatedFilter("SINCE LAST N DAYS", T0),
        UpdatedFilter(">", 3),
    ],
)
def test_updated_filter_refuses_wrong_values(condition):
    """A value of the wrong kind for its operator is refused before any request."""
    with pytest.raises(ValueError, match="needs"):
        condition.to_json()
