"""
Per-request savings of the tuned client: the small writes of one request leave in one piece
(head and body in one ``send``); httpcore's connection locks do not yield when free.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from daemon.upstream.asyncio_streams import COALESCE_BYTES
from daemon.upstream.client_tuning import tune_client
from tests.upstream.test_client_tuning import KeepAlive, served


def _count_client_writes(monkeypatch: pytest.MonkeyPatch, port: list[int]) -> list[bytes]:
    """Every buffer a client-side transport is given (the server's port is ``port[0]``)."""
    writes: list[bytes] = []
    transport_type = type(_probe_transport())
    original = transport_type.write

    def write(self: asyncio.Transport, data: bytes) -> None:
        peer = self.get_extra_info("peername")
        if peer is not None and port and peer[1] == port[0]:
            writes.append(bytes(data))
        original(self, data)

    monkeypatch.setattr(transport_type, "write", write)
    return writes


def _probe_transport() -> asyncio.Transport:
    """An instance of the loop's socket transport class, to patch its ``write``."""
    import socket

    loop = asyncio.get_event_loop_policy().get_event_loop()
    left, right = socket.socketpair()
    transport = loop._make_socket_transport(left, asyncio.Protocol())  # type: ignore[attr-defined]
    transport.abort()
    right.close()
    return transport  # type: ignore[no-any-return]


async def test_a_small_upload_goes_out_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    port: list[int] = []
    writes = _count_client_writes(monkeypatch, port)
    app = KeepAlive()
    payload = b"m" * 290
    async with served(app) as client:
        port.append(app.port)
        response = await client.post("/upload", content=payload)
        assert response.content == b"ok"
        assert len(writes) == 1  # request line, headers and body together
        assert writes[0].startswith(b"POST /upload HTTP/1.1\r\n")
        assert writes[0].endswith(b"\r\n\r\n" + payload)
        assert (await client.get("/after")).content == b"ok"  # the same connection goes on
    assert app.received == [payload, b""]
    assert app.connections == 1


async def test_a_body_past_the_coalescing_bound_is_written_as_it_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port: list[int] = []
    writes = _count_client_writes(monkeypatch, port)
    app = KeepAlive()
    payload = b"L" * (COALESCE_BYTES * 2)
    async with served(app) as client:
        port.append(app.port)
        response = await client.post("/upload", content=payload)
    assert response.content == b"ok"
    assert app.received == [payload]
    assert len(writes) == 1  # the head waited for the body, which is past the bound
    assert len(writes[0]) > COALESCE_BYTES


async def test_tuned_connections_take_their_locks_without_a_yield() -> None:
    app = KeepAlive()
    async with served(app) as client:
        assert (await client.get("/a")).content == b"ok"
        pool = client._transport._pool  # type: ignore[attr-defined]
        (connection,) = pool.connections
        assert connection._request_lock._anyio_lock._fast_acquire
        assert connection._connection._state_lock._anyio_lock._fast_acquire


async def test_requests_queued_for_a_connection_lock_all_complete() -> None:
    app = KeepAlive()
    async with served(app) as client:
        limited = httpx.AsyncClient(
            base_url=str(client.base_url), limits=httpx.Limits(max_connections=2)
        )
        tune_client(limited)
        async with limited:
            answers = await asyncio.gather(*(limited.get(f"/{n}") for n in range(20)))
    assert [answer.content for answer in answers] == [b"ok"] * 20
    assert app.connections <= 2
