"""A REST DAM's credentials stay on its origin, and its ids never leave their path segment."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import BinaryRef, DamAsset, Window
from daemon.sources import build_source, load_source_settings
from tests.upstream.loopback import Loopback, Seen, Wire

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(days=1))
PNG = b"\x89PNG" + b"x" * 100
TOKEN = "s3cret-token"
KEY = "s3cret-key"


def table(base: str, style: str = "next_url", auth: str = "bearer") -> dict[str, Any]:
    paging: dict[str, Any] = {"style": style}
    if style == "next_url":
        paging["next_url_path"] = "next"
    credentials: dict[str, Any] = {"type": "bearer", "token": TOKEN}
    if auth == "api_key_query":
        credentials = {"type": "api_key_query", "query_param": "api_key", "api_key": KEY}
    return {
        "name": "origin",
        "kind": "rest",
        "http": {"retry": {"attempts": 1}},
        "rest": {
            "base_url": base,
            "changes_path": "/assets",
            "items_path": "items",
            "paging": paging,
            "auth": credentials,
            "fields": {"binary_url": "url", "size": "size", "checksum": "sha256"},
        },
    }


def item(asset_id: str, url: str) -> dict[str, Any]:
    return {
        "id": asset_id,
        "updated_at": "2026-01-01T01:00:00Z",
        "url": url,
        "size": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }


def carries_credentials(request: httpx.Request) -> bool:
    return "authorization" in request.headers or "api_key" in request.url.params


class Dam:
    """Two listing pages; the first points to ``next_url``; any other path is a binary."""

    def __init__(self, base: str, next_url: str, binary_url: str = "") -> None:
        self.base = base
        self.next_url = next_url
        self.binary_url = binary_url or f"{base}/files/a1"
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert len(self.requests) < 20, "the source does not stop"
        if request.url.path != "/assets":
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        if "cursor" in request.url.params:
            return httpx.Response(200, json={"items": [], "next": None})
        headers = {"link": f'<{self.next_url}>; rel="next"'}
        body = {"items": [item("a1", self.binary_url)], "next": self.next_url}
        return httpx.Response(200, json=body, headers=headers)


def source_for(dam: Dam, style: str = "next_url", auth: str = "bearer") -> Any:
    settings = load_source_settings(table(dam.base, style, auth))
    return build_source("origin", settings, transport=httpx.MockTransport(dam.handler))


@pytest.mark.parametrize("style", ["next_url", "link"])
@pytest.mark.parametrize(
    ("base", "next_url"),
    [
        ("http://dam.test", "http://dam.test:8080/assets?cursor=2"),
        ("https://dam.test", "http://dam.test/assets?cursor=2"),
        ("https://dam.test", "https://dam.test:8443/assets?cursor=2"),
    ],
)
async def test_a_next_page_on_another_origin_is_refused(style, base, next_url):
    """A next page on the same host but another port or scheme fails; nothing is sent there."""
    dam = Dam(base, next_url)
    source = source_for(dam, style)
    with pytest.raises(SourceProtocolError) as info:
        async for _ in source.changes(WINDOW):
            pass
    await source.aclose()
    assert "another origin" in str(info.value)
    assert [f"{base}/assets"] == [str(r.url.copy_with(query=None)) for r in dam.requests]


async def test_a_next_page_with_the_default_port_spelled_out_is_followed():
    """``https://dam.test:443`` is the DAM's own origin: the second page is read."""
    dam = Dam("https://dam.test", "https://dam.test:443/assets?cursor=2")
    source = source_for(dam)
    pages = [page async for page in source.changes(WINDOW)]
    await source.aclose()
    assert (1, 2) == (len(pages), len(dam.requests))
    assert all(carries_credentials(r) for r in dam.requests)


@pytest.mark.parametrize("auth", ["bearer", "api_key_query"])
@pytest.mark.parametrize(
    ("base", "binary_url", "expected"),
    [
        ("http://dam.test", "http://dam.test:8080/files/a1", False),
        ("https://dam.test", "http://dam.test/files/a1", False),
        ("http://dam.test", "http://dam.test:80/files/a1", True),
        ("http://dam.test", "/files/a1", True),
    ],
)
async def test_binary_credentials_follow_the_origin_not_the_host(auth, base, binary_url, expected):
    """A binary on the DAM's host but another port or scheme is fetched without credentials."""
    dam = Dam(base, "", binary_url)
    source = source_for(dam, auth=auth)
    asset = next(iter([p async for p in source.changes(WINDOW)])).assets[0]
    async with source.open_binary(asset) as chunks:
        body = b"".join([c async for c in chunks])
    await source.aclose()
    download = dam.requests[-1]
    assert (PNG, "/files/a1", expected) == (body, download.url.path, carries_credentials(download))


ODD_IDS = {
    "../../../admin/delete?all=1#": "/assets/..%2F..%2F..%2Fadmin%2Fdelete%3Fall%3D1%23",
    "..": "/assets/%2E%2E",
    ".": "/assets/%2E",
    "50%": "/assets/50%25",
    "a b/ü": "/assets/a%20b%2F%C3%BC",
}


async def not_found(_: Seen, wire: Wire) -> None:
    await wire.head(404, Content_Type="application/json", Content_Length="2")
    await wire.body(b"{}")


async def test_ids_are_sent_as_one_path_segment_on_the_wire():
    """Each id in ``item_path_template`` arrives as one encoded segment, never another path."""
    async with Loopback(not_found) as server:
        settings = table(server.url)
        settings["rest"]["item_path_template"] = "/assets/{id}"
        source = build_source("origin", load_source_settings(settings))
        page = await source.fetch(list(ODD_IDS))
        await source.aclose()
    assert list(ODD_IDS.values()) == [seen.target for seen in server.seen]
    assert sorted(ODD_IDS) == sorted(str(e.asset_id) for e in page.errors)


async def test_download_templates_encode_the_id_too():
    """The per-asset download endpoint gets the id as one segment as well."""
    async with Loopback(not_found) as server:
        settings = table(server.url)
        settings["rest"]["download"] = {"path_template": "/media/{id}/download", "url_path": "u"}
        source = build_source("origin", load_source_settings(settings))
        binary = BinaryRef(url=None, filename="a.png", mime_type="image/png", size=None)
        asset = DamAsset(
            id="../../admin?x=1#", updated_at=T0, deleted=False, metadata={}, binary=binary
        )
        with pytest.raises(SourceAssetError, match="download endpoint answered HTTP 404"):
            async with source.open_binary(asset):
                pass
        await source.aclose()
    assert ["/media/..%2F..%2Fadmin%3Fx%3D1%23/download"] == [s.target for s in server.seen]
