"""Bad answers become the right PimError subclass naming the endpoint template and status."""

from __future__ import annotations

import httpx
import pytest

from daemon.core.errors import PimError, PimNotFound, PimProtocolError, PimRejected, TransientError
from daemon.core.records import PimAsset

from .helpers import Recorder, json_answer, make_client

FAMILY_EP = "/api/rest/v1/asset-families/{family}"


def raw(status: int, content: bytes, ctype: str | None) -> httpx.Response:
    headers = {"content-type": ctype} if ctype else {}
    return httpx.Response(status, content=content, headers=headers)


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (raw(200, b"<html><body>Maintenance</body></html>", "text/html"), "expected a JSON answer"),
        (raw(200, b'{"code": "packshots"', "application/json"), "unreadable JSON"),
        (raw(200, b'{"code": "packshots"}', "text/plain"), "expected a JSON answer"),
        (raw(200, b'["packshots"]', "application/json"), "expected dict, got list"),
        (raw(200, b'{"labels": {}}', "application/json"), "without a code"),
        (raw(200, b'{"code": 12}', "application/json"), "without a code"),
        (raw(200, b'{"code": "p", "labels": "x"}', "application/json"), "labels"),
        (raw(204, b"", None), "unexpected HTTP 204"),
    ],
)
async def test_unreadable_family_answers_are_protocol_errors(answer, needle):
    """HTML, truncated JSON, wrong content type and wrong shapes end as PimProtocolError."""
    async with make_client(Recorder(lambda r: answer)) as client:
        with pytest.raises(PimProtocolError) as info:
            await client.get_asset_family("packshots")
    assert needle in str(info.value)
    assert f"GET {FAMILY_EP} -> {answer.status_code}" in str(info.value)
    assert not isinstance(info.value, TransientError)


@pytest.mark.parametrize(
    ("status", "body", "kind", "needle"),
    [
        (404, {"code": 404, "message": 'Asset family "x" does not exist.'}, PimNotFound, "x"),
        (403, {"code": 403, "message": "Access forbidden."}, PimRejected, "permission denied"),
        (400, {"code": 400, "message": "Invalid json message received"}, PimRejected, "json"),
        (415, {"code": 415, "message": "bad type"}, PimProtocolError, "bad type"),
        (406, {"code": 406, "message": "not acceptable"}, PimProtocolError, "acceptable"),
        (405, {"code": 405, "message": "No route found"}, PimProtocolError, "No route"),
        (409, {"code": 409}, PimRejected, "HTTP 409"),
    ],
)
async def test_error_statuses_map_to_classes(status, body, kind, needle):
    """Each documented 4xx maps to its class with Akeneo's message."""
    async with make_client(Recorder(lambda r: json_answer(status, body))) as client:
        with pytest.raises(kind) as info:
            await client.get_asset_family("x")
    assert needle in str(info.value)
    assert (status, FAMILY_EP, "GET") == (
        info.value.status_code,
        info.value.endpoint,
        info.value.method,
    )


async def test_html_404_is_not_found_naming_endpoint():
    """A 404 HTML page is still PimNotFound naming endpoint and status."""
    answer = raw(404, b"<html>Not Found</html>", "text/html")
    async with make_client(Recorder(lambda r: answer)) as client:
        with pytest.raises(PimNotFound) as info:
            await client.delete_asset("packshots", "a1")
    assert "DELETE /api/rest/v1/asset-families/{family}/assets/{code} -> 404" in str(info.value)
    assert "non-JSON" in str(info.value)


async def test_bulk_answer_length_mismatch_fails_every_item_with_protocol_error():
    """A bulk answer with fewer items than sent is a PimProtocolError on each item."""
    answer = json_answer(200, [{"code": "a", "status_code": 201}])
    async with make_client(Recorder(lambda r: answer)) as client:
        results = await client.upsert_assets(
            "packshots", [PimAsset("packshots", "a"), PimAsset("packshots", "b")]
        )
    assert ["failed", "failed"] == [r.outcome for r in results]
    error = results[0].error
    assert isinstance(error, PimProtocolError)
    assert "sent 2 assets, the answer has 1 items" in str(error)
    assert "PATCH /api/rest/v1/asset-families/{family}/assets -> 200" in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        [{"code": "b", "status_code": 201}, {"code": "a", "status_code": 201}],
        [{"code": "a", "status_code": "201"}, {"code": "b", "status_code": 201}],
        [{"code": "a", "status_code": 201}, "b"],
        {"code": "a"},
    ],
)
async def test_bulk_answer_of_wrong_shape_is_protocol_error(answer):
    """Out-of-order codes, string statuses, non-objects and non-arrays are protocol errors."""
    async with make_client(Recorder(lambda r: json_answer(200, answer))) as client:
        results = await client.upsert_assets("packshots", [{"code": "a"}, {"code": "b"}])
    assert all(isinstance(r.error, PimProtocolError) for r in results)


async def test_bulk_request_413_fails_items_with_rejected_error():
    """A whole-request 413 fails each item with a PimRejected carrying the message."""
    body = {"code": 413, "message": "Too many resources to process, 100 is the maximum allowed."}
    async with make_client(Recorder(lambda r: json_answer(413, body))) as client:
        [result] = await client.upsert_assets("packshots", [{"code": "a"}])
    assert ("failed", 413) == (result.outcome, result.status_code)
    assert isinstance(result.error, PimRejected)
    assert "100 is the maximum" in result.message


async def test_ndjson_answer_with_missing_line_is_protocol_error():
    """An NDJSON answer covering fewer lines than sent fails those lines."""
    answer = raw(
        200, b'{"line":1,"code":"m1","status_code":204}', "application/vnd.akeneo.collection+json"
    )
    async with make_client(Recorder(lambda r: answer)) as client:
        results = await client.upsert_product_models([{"code": "m1"}, {"code": "m2"}])
    assert ["failed", "failed"] == [r.outcome for r in results]
    assert isinstance(results[1].error, PimProtocolError)
    assert "/api/rest/v1/product-models" == results[1].error.endpoint


async def test_ndjson_answer_html_is_protocol_error():
    """An HTML page instead of NDJSON is a protocol error on every line."""
    answer = raw(200, b"<html>oops</html>", "text/html")
    async with make_client(Recorder(lambda r: answer)) as client:
        [result] = await client.upsert_products([{"identifier": "sku1"}])
    assert isinstance(result.error, PimProtocolError)


async def test_upload_201_without_code_header_is_protocol_error(tmp_path):
    """A 201 upload answer without Asset-media-file-code is a PimProtocolError."""
    file = tmp_path / "a.png"
    file.write_bytes(b"\x89PNG....")
    async with make_client(Recorder(lambda r: httpx.Response(201))) as client:
        with pytest.raises(PimProtocolError) as info:
            await client.upload_media_file(file)
    assert "POST /api/rest/v1/asset-media-files -> 201" in str(info.value)
    assert "Asset-media-file-code" in str(info.value)


async def test_wrong_shape_asset_pages_are_protocol_errors():
    """A page without _embedded or with a value lacking data is a protocol error."""
    pages = iter(
        [
            {"_links": {}},
            {"_embedded": {"items": [{"code": "a", "values": {"title": [{"locale": None}]}}]}},
        ]
    )
    async with make_client(Recorder(lambda r: json_answer(200, next(pages)))) as client:
        for needle in ("_embedded", "without data"):
            with pytest.raises(PimProtocolError, match=needle):
                [a async for a in client.iter_assets("packshots")]


async def test_errors_are_all_pim_errors():
    """Every protocol failure is catchable as PimError."""
    async with make_client(Recorder(lambda r: json_answer(200, 42))) as client:
        with pytest.raises(PimError):
            await client.get_asset_attributes("packshots")
