"""An upstream that cannot be reached: one error naming the URL and the cause in words."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from daemon.core.errors import PimUnavailable
from daemon.upstream.policy import RequestSpec, RetryPolicy
from daemon.upstream.session import Upstream

from .loopback import Loopback, Seen, Wire
from .test_session import KINDS

ONCE = RetryPolicy(attempts=1)
KEY = "k3y-in-the-query"


def closed_port() -> int:
    """A loopback port nobody listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def failure(base_url: str, *, timeout: float = 5.0) -> str:
    """The error of one GET of ``/assets/{id}`` (with a key in its query) against ``base_url``."""
    client = httpx.AsyncClient(base_url=base_url, timeout=timeout)
    upstream = Upstream("dam", client, KINDS, retry=ONCE)
    spec = RequestSpec(
        method="GET", url="/assets/a-17", endpoint="/assets/{id}", params={"api_key": KEY}
    )
    async with client:
        with pytest.raises(PimUnavailable) as failed:
            await upstream.request(spec, lambda response: response)
    return str(failed.value)


async def test_a_closed_port_is_named_with_its_url_and_connection_refused():
    """Origin, base path and template are named; userinfo and the query string are not."""
    port = closed_port()
    message = await failure(f"http://ops:hunter2@127.0.0.1:{port}/api/v2")
    assert f"http://127.0.0.1:{port}/api/v2/assets/{{id}}" in message
    assert "connection refused" in message
    assert [] == [leak for leak in ("hunter2", "ops@", KEY, "a-17", "?") if leak in message]


async def test_a_name_that_never_resolves_is_a_dns_failure():
    """A ``.invalid`` host (never resolvable) is reported as a DNS failure with its URL."""
    message = await failure("http://damsync-test.invalid")
    assert "http://damsync-test.invalid/assets/{id}" in message
    assert "DNS failure (name not resolved)" in message


async def test_https_to_a_plain_http_server_is_a_tls_failure():
    """Addressing a plain HTTP server with https:// fails the handshake: a TLS failure."""

    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers the first bytes (the ClientHello) as a plain HTTP server does a bad request.
        # (A server that waits for a request line would hang whenever the random ClientHello
        # holds no newline byte: the test would then see a timeout, not a TLS failure.)
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        message = await failure(f"https://127.0.0.1:{port}", timeout=60.0)
    finally:
        server.close()
        await server.wait_closed()
    assert f"https://127.0.0.1:{port}/assets/{{id}}" in message
    assert "TLS failure" in message


async def test_a_server_that_never_answers_is_a_timeout():
    """No answer within the read timeout is reported as a timeout, with the URL."""

    async def silent(_: Seen, wire: Wire) -> None:
        # Held open until the client gives up and the server is closed (which cancels this).
        await asyncio.Event().wait()

    async with Loopback(silent) as server:
        message = await failure(server.url, timeout=0.2)
    assert f"{server.url}/assets/{{id}}" in message
    assert "timeout waiting for the answer" in message
