"""Hostile answers cannot exhaust memory or time: a body cap, total deadlines, bounded JSON."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from daemon.core.errors import PimProtocolError, SourceProtocolError, SourceUnavailable
from daemon.core.records import BinaryRef, DamAsset, Window
from daemon.sources import build_source, load_source_settings
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream, read_json
from tests.upstream.loopback import Loopback, endless, json_body, trickle
from tests.upstream.test_session import FAST, KINDS

MIB = 1024 * 1024
T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(days=1))


def table(name: str, url: str, **http: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "rest",
        "http": {"retry": {"attempts": 1}, **http},
        "rest": {
            "base_url": url,
            "changes_path": "/assets",
            "items_path": "items",
            "paging": {"style": "cursor", "param": "cursor", "cursor_path": "next_cursor"},
            "auth": {"type": "bearer", "token": "s3cret-token"},
            "fields": {"binary_url": "url", "size": "size", "checksum": "sha256"},
        },
    }


async def read(source) -> Any:
    return [page async for page in source.changes(WINDOW)]


async def test_an_endless_listing_stops_at_the_configured_cap_in_bounded_memory():
    """An endless chunked listing fails at ``http.max_body_bytes``, named, holding ~1 MiB."""
    async with Loopback(endless()) as server:
        settings = load_source_settings(table("big", server.url, max_body_bytes=MIB))
        source = build_source("big", settings)
        tracemalloc.start()
        try:
            with pytest.raises(SourceProtocolError) as info:
                await read(source)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await source.aclose()
    assert "sources.big.http.max_body_bytes" in str(info.value)
    assert "the answer is longer than the 1048576 bytes allowed" in str(info.value)
    assert (True, True) == (peak < 8 * MIB, server.sent < 32 * MIB), (peak, server.sent)


async def test_the_default_cap_stops_an_endless_body_before_it_ends():
    """Without configuration, 32 MiB is the cap: a 64 MiB stream is cut off, not buffered."""
    async with Loopback(endless(cap=64 * MIB)) as server:
        client = httpx.AsyncClient(base_url=server.url)
        upstream = Upstream("pim", client, KINDS, retry=FAST)
        spec = RequestSpec(method="GET", url="/big", endpoint="/big")
        tracemalloc.start()
        try:
            with pytest.raises(PimProtocolError) as info:
                await upstream.request(spec, lambda r: read_json(upstream, spec, r))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await upstream.aclose()
    assert "http.max_body_bytes" in str(info.value)
    assert peak < 48 * MIB, peak


async def test_an_announced_oversized_body_is_refused_before_reading_it():
    """A Content-Length past the cap is refused at once, naming the announced size and key."""
    data = b"[" + b"1," * MIB + b"1]"
    async with Loopback(json_body(data)) as server:
        settings = load_source_settings(table("big", server.url, max_body_bytes=MIB))
        source = build_source("big", settings)
        try:
            with pytest.raises(SourceProtocolError) as info:
                await read(source)
        finally:
            await source.aclose()
    expected = f"the answer announces {len(data)} bytes, more than the {MIB} allowed"
    assert expected in str(info.value)
    assert "sources.big.http.max_body_bytes" in str(info.value)


async def test_deeply_nested_json_is_a_protocol_error_not_a_recursion_error():
    """A 100,000-deep JSON answer is an unreadable-JSON protocol error naming the endpoint."""

    def handler(request: httpx.Request) -> httpx.Response:
        deep = b"[" * 100_000 + b"]" * 100_000
        return httpx.Response(200, content=deep, headers={"Content-Type": "application/json"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://pim.test")
    upstream = Upstream("pim", client, KINDS, retry=FAST)
    spec = RequestSpec(method="GET", url="/deep", endpoint="/deep")
    with pytest.raises(PimProtocolError) as info:
        await upstream.request(spec, lambda r: read_json(upstream, spec, r))
    await upstream.aclose()
    assert "GET /deep -> 200: unreadable JSON (the JSON document is nested too deeply" in str(
        info.value
    )


async def test_a_trickling_listing_ends_at_the_total_deadline():
    """One byte every 50 ms never trips the read timeout; ``timeouts.total`` ends it in time."""
    body = b'{"items": [], "next_cursor": null, "padding": "' + b"p" * 200 + b'"}'
    async with Loopback(trickle(body, every=0.05)) as server:
        timeouts = {"read": 2.0, "total": 0.5}
        source = build_source(
            "slow", load_source_settings(table("slow", server.url, timeouts=timeouts))
        )
        started = time.monotonic()
        try:
            with pytest.raises(SourceUnavailable) as info:
                await read(source)
        finally:
            await source.aclose()
        elapsed = time.monotonic() - started
    assert "no complete answer within 0.5 s (limit: sources.slow.http.timeouts.total)" in str(
        info.value
    )
    assert elapsed < 3.0, elapsed


async def test_a_trickling_binary_ends_at_the_transfer_deadline():
    """A binary download trickling bytes fails at ``timeouts.transfer``, not after hours."""
    data = b"\x89PNG" + b"x" * 400
    async with Loopback(trickle(data, every=0.05, content_type="image/png")) as server:
        timeouts = {"read": 2.0, "transfer": 0.5}
        settings = load_source_settings(table("slow", server.url, timeouts=timeouts))
        source = build_source("slow", settings)
        binary = BinaryRef(
            url=f"{server.url}/files/a.png",
            filename="a.png",
            mime_type="image/png",
            size=len(data),
            checksum=hashlib.sha256(data).hexdigest(),
        )
        asset = DamAsset(id="a", updated_at=T0, deleted=False, metadata={}, binary=binary)
        started = time.monotonic()
        received = 0
        try:
            with pytest.raises(SourceUnavailable) as info:
                async with source.open_binary(asset) as chunks:
                    async for chunk in chunks:
                        received += len(chunk)
        finally:
            await source.aclose()
        elapsed = time.monotonic() - started
    assert "limit: sources.slow.http.timeouts.transfer" in str(info.value)
    assert (True, True) == (elapsed < 3.0, 0 < received < len(data)), (elapsed, received)
