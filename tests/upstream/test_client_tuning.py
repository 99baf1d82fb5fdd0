"""
The per-client tuning of httpx and httpcore: cookies read only when set, httpcore's streams on
asyncio's transports. Real loopback sockets where the wire matters (keep-alive, a connection
the server closed while idle, flow control both ways, timeouts).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar
from typing import Any

import httpx
import pytest

from daemon.upstream.asyncio_streams import READ_HIGH_WATER, AsyncioBackend
from daemon.upstream.causes import transport_cause
from daemon.upstream.client_tuning import SetCookieOnly, tune_client

# --- cookies ---------------------------------------------------------------------------------


class CountingJar(CookieJar):
    def __init__(self) -> None:
        super().__init__()
        self.extractions = 0

    def extract_cookies(self, response: Any, request: Any) -> None:
        self.extractions += 1
        super().extract_cookies(response, request)


async def test_a_set_cookie_is_kept_and_sent_back_as_before():
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        if request.url.path == "/login":
            return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})
        return httpx.Response(200)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://dam.test"
    ) as client:
        tune_client(client)
        assert isinstance(client.cookies, SetCookieOnly)
        await client.get("/login")
        await client.get("/assets")
    assert seen == [None, "session=abc"]


async def test_answers_without_set_cookie_never_reach_the_jar():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            return httpx.Response(200, headers={"set-cookie2": "legacy=1"})
        return httpx.Response(200, headers={"Content-Type": "application/json"}, json={})

    jar = CountingJar()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://dam.test", cookies=jar
    ) as client:
        tune_client(client)
        assert client.cookies.jar is jar  # the same jar: cookies set before stay
        for _ in range(3):
            await client.get("/assets")
        assert jar.extractions == 0
        await client.get("/login")
        assert jar.extractions == 1


async def test_tuning_is_idempotent_and_leaves_a_mock_transport_alone():
    mock = httpx.MockTransport(lambda request: httpx.Response(204))
    async with httpx.AsyncClient(transport=mock) as client:
        tune_client(client)
        tune_client(client)
        assert client._transport is mock
    async with httpx.AsyncClient() as client:
        tune_client(client)
        backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
        assert isinstance(backend, AsyncioBackend)
        tune_client(client)
        assert client._transport._pool._network_backend is backend  # type: ignore[attr-defined]
        assert not isinstance(backend.fallback, AsyncioBackend)


# --- a keep-alive server on loopback ---------------------------------------------------------


class KeepAlive:
    """HTTP/1.1 with keep-alive: answers ``body`` to every request, counts connections."""

    def __init__(self, body: bytes = b"ok", *, close_after: int | None = None) -> None:
        self.body = body
        self.close_after = close_after
        self.connections = 0
        self.received: list[bytes] = []
        self.hold = asyncio.Event()
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                self.received.append(await reader.readexactly(length))
                if b"/silent" in head:
                    await self.hold.wait()  # never answers: the client times out
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body))
                writer.write(self.body)
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    return  # closes an idle keep-alive connection
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def served(app: KeepAlive) -> AsyncIterator[httpx.AsyncClient]:
    server = await asyncio.start_server(app.serve, "127.0.0.1", 0)
    app.port = server.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}", timeout=5.0)
    tune_client(client)
    try:
        async with client:
            yield client
    finally:
        app.hold.set()
        server.close()
        await server.wait_closed()


async def test_requests_share_one_kept_alive_connection():
    app = KeepAlive(b'{"items": []}')
    async with served(app) as client:
        for _ in range(5):
            response = await client.get("/assets")
            assert response.content == b'{"items": []}'
    assert app.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed():
    app = KeepAlive(close_after=1)
    async with served(app) as client:
        assert (await client.get("/a")).content == b"ok"
        await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle
        assert (await client.get("/b")).content == b"ok"
        assert (await client.get("/c")).content == b"ok"
    assert app.connections == 3


async def test_a_body_larger_than_the_read_buffer_arrives_whole():
    body = bytes(range(256)) * (3 * READ_HIGH_WATER // 256 + 7)
    app = KeepAlive(body)
    async with served(app) as client:
        async with client.stream("GET", "/big") as response:
            chunks = []
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
                await asyncio.sleep(0)  # a slow reader: the transport pauses and resumes
        assert b"".join(chunks) == body
        assert (await client.get("/after")).content == body  # the connection is still good


async def test_a_large_request_body_is_sent_whole():
    payload = b"x" * (4 * 1024 * 1024 + 3)
    app = KeepAlive()
    async with served(app) as client:
        response = await client.post("/upload", content=payload)
    assert response.content == b"ok"
    assert app.received == [payload]


async def test_no_answer_within_the_read_timeout_is_a_read_timeout():
    app = KeepAlive()
    async with served(app) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/silent", timeout=httpx.Timeout(5.0, read=0.2))
        assert (await client.get("/next")).content == b"ok"  # a new connection


async def test_a_closed_port_is_a_connect_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        tune_client(client)
        with pytest.raises(httpx.ConnectError) as failed:
            await client.get("/")
    assert isinstance(failed.value.__cause__.__context__, ConnectionRefusedError)  # type: ignore[union-attr]


async def test_every_address_refused_is_still_connection_refused(monkeypatch):
    """asyncio words a host whose every address failed as one OSError: the errno survives."""
    loop = asyncio.get_running_loop()

    async def refused(*_: Any, **__: Any) -> Any:
        raise OSError(
            "Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
            "[Errno 111] Connect call failed ('127.0.0.1', 9)"
        )

    monkeypatch.setattr(loop, "create_connection", refused)
    async with httpx.AsyncClient(base_url="http://dam.test:9") as client:
        tune_client(client)
        with pytest.raises(httpx.ConnectError) as failed:
            await client.get("/")
    assert transport_cause(failed.value) == "connection refused"
