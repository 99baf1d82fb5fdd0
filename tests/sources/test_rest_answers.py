"""Bad DAM answers become precise per-asset or per-page errors; the rest of the page goes on."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import Window
from daemon.sources import build_source, load_source_settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(days=1))
PNG = b"\x89PNG" + b"x" * 100


def item(asset_id, **over) -> Any:
    base = {
        "id": asset_id,
        "updated_at": "2026-01-01T01:00:00Z",
        "deleted": False,
        "file": {
            "url": f"http://dam.test/files/{asset_id}",
            "filename": f"{asset_id}.png",
            "size": len(PNG),
            "sha256": hashlib.sha256(PNG).hexdigest(),
        },
        "metadata": {"title": "x"},
    }
    base.update(over)
    return base


def table() -> Any:
    return {
        "name": "bad",
        "kind": "rest",
        "http": {"retry": {"attempts": 1}},
        "rest": {
            "base_url": "http://dam.test",
            "changes_path": "/assets",
            "items_path": "items",
            "paging": {"style": "cursor", "param": "cursor", "cursor_path": "next_cursor"},
            "auth": {"type": "bearer", "token": "s3cret-token"},
            "fields": {
                "deleted": {"path": "deleted"},
                "binary_url": "file.url",
                "filename": "file.filename",
                "size": "file.size",
                "checksum": "file.sha256",
                "metadata": "metadata",
            },
        },
    }


def make(handler) -> Any:
    return build_source(
        "bad", load_source_settings(table()), transport=httpx.MockTransport(handler)
    )


async def read(source) -> Any:
    return [page async for page in source.changes(WINDOW)]


async def test_missing_field_and_bad_date_are_per_asset_errors():
    """A missing id field and an unparseable date name asset, field and path; others go on."""
    items = [item("ok1"), {"updated_at": "2026-01-01T00:00:00Z"}, item("bad", updated_at="soon")]

    def handler(request):
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    source = make(handler)
    pages = await read(source)
    await source.aclose()
    assert ["ok1"] == [a.id for p in pages for a in p.assets]
    errors = [e for p in pages for e in p.errors]
    assert [(None, "id", "id"), ("bad", "updated_at", "updated_at")] == [
        (e.asset_id, e.field, e.path) for e in errors
    ]
    assert "unparseable date" in errors[1].reason


async def test_html_page_is_a_protocol_error_without_secrets():
    """An HTML answer for a whole page is a SourceProtocolError that never shows the token."""

    def handler(request):
        return httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})

    source = make(handler)
    with pytest.raises(SourceProtocolError) as info:
        await read(source)
    await source.aclose()
    assert "s3cret" not in str(info.value) and "s3cret" not in repr(source)


def binary_handler(status=200, body=PNG, length=None) -> Any:
    def handler(request):
        if request.url.path == "/assets":
            return httpx.Response(200, json={"items": [item("a1")], "next_cursor": None})
        headers = {"content-length": str(length if length is not None else len(body))}
        return httpx.Response(status, content=body, headers=headers)

    return handler


async def download(source) -> Any:
    pages = await read(source)
    asset = pages[0].assets[0]
    async with source.open_binary(asset) as chunks:
        return b"".join([c async for c in chunks])


async def test_binary_download_is_verified():
    """A good binary streams through with size and sha256 checked."""
    source = make(binary_handler())
    assert PNG == await download(source)
    await source.aclose()


@pytest.mark.parametrize(
    ("handler", "field", "reason"),
    [
        (binary_handler(status=404, body=b"nope"), "binary_url", "HTTP 404"),
        (binary_handler(body=PNG[:50], length=50), "size", "wrong content length"),
        (binary_handler(body=PNG[:50], length=len(PNG)), "size", "truncated download"),
        (binary_handler(body=b"y" * len(PNG)), "checksum", "sha256 mismatch"),
    ],
)
async def test_bad_binaries_are_asset_errors(handler, field, reason):
    """404, wrong length, truncation and wrong bytes each raise SourceAssetError naming a1."""
    source = make(handler)
    with pytest.raises(SourceAssetError) as info:
        await download(source)
    await source.aclose()
    assert ("a1", field) == (info.value.asset_id, info.value.field)
    assert reason in info.value.reason


async def test_fetch_reports_unknown_ids():
    """fetch() returns the known asset and a per-asset error for the unknown id."""

    def handler(request):
        wanted = request.url.params["ids"].split(",")
        return httpx.Response(200, json={"items": [item(i) for i in wanted if i == "a1"]})

    settings = table()
    settings["rest"]["ids_param"] = "ids"
    source = build_source(
        "bad", load_source_settings(settings), transport=httpx.MockTransport(handler)
    )
    page = await source.fetch(["a1", "zz"])
    await source.aclose()
    assert (["a1"], ["zz"]) == ([a.id for a in page.assets], [e.asset_id for e in page.errors])


async def test_oauth2_token_is_cached_and_refreshed_on_401():
    """The client-credentials token is fetched once, and again after the DAM refuses it."""
    tokens = iter(["t1", "t2"])
    refused = {"t1"}
    seen = []

    def handler(request):
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3600})
        auth = request.headers["authorization"]
        seen.append(auth)
        if auth.removeprefix("Bearer ") in refused:
            refused.clear()
            return httpx.Response(401, json={})
        return httpx.Response(200, json={"items": [item("a1")], "next_cursor": None})

    settings = table()
    settings["rest"]["auth"] = {
        "type": "oauth2",
        "token_url": "http://dam.test/oauth/token",
        "client_id": "demo",
        "client_secret": {"env": "SECRET"},
    }
    source = build_source(
        "bad",
        load_source_settings(settings, {"SECRET": "demo"}),
        transport=httpx.MockTransport(handler),
    )
    await read(source)
    await read(source)
    await source.aclose()
    assert ["Bearer t1", "Bearer t2", "Bearer t2"] == seen


DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_deeply_nested_page_is_a_protocol_error():
    """A listing page nested 100,000 deep fails the page as unreadable JSON, naming the endpoint."""

    def handler(request):
        return httpx.Response(200, content=DEEP, headers={"content-type": "application/json"})

    source = make(handler)
    with pytest.raises(SourceProtocolError) as info:
        await read(source)
    await source.aclose()
    assert "GET /assets -> 200: unreadable JSON (the JSON document is nested too deeply" in str(
        info.value
    )


async def test_deeply_nested_item_is_that_assets_error():
    """Fetching by id, a record nested too deeply is its own per-asset error; the rest is read."""

    def handler(request):
        if request.url.path == "/assets/deep":
            return httpx.Response(200, content=DEEP, headers={"content-type": "application/json"})
        return httpx.Response(200, json=item(request.url.path.rsplit("/", 1)[1]))

    settings = table()
    settings["rest"]["item_path_template"] = "/assets/{id}"
    source = build_source(
        "bad", load_source_settings(settings), transport=httpx.MockTransport(handler)
    )
    page = await source.fetch(["ok", "deep"])
    await source.aclose()
    errors = [(e.asset_id, e.field, e.path) for e in page.errors]
    assert (["ok"], [("deep", "metadata", "/assets/{id}")]) == ([a.id for a in page.assets], errors)
    assert "nested too deeply" in page.errors[0].reason
