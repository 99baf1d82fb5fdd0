"""
httpcore's network streams on asyncio's own transports, without the anyio layer in between.

httpcore talks to the network through a small interface (connect, read, write, start TLS, close,
a few facts about the socket). On asyncio its default implementation goes through anyio, which
for every read and every write enters a cancel scope, looks up the current task, yields once
to the event loop and pauses or resumes the transport's reading; for every idle-connection
check it rebuilds the socket's attribute table (with a ``getpeername`` system call). In a media
pass (two requests per asset) that was a tenth of the daemon's CPU.

:class:`AsyncioBackend` implements the same interface on an ``asyncio.Protocol`` with the same
guarantees httpcore relies on:

- timeouts: connect, read and write each bounded by the timeout httpcore passes (``None``:
  unbounded), raised as httpcore's ``ConnectTimeout``/``ReadTimeout``/``WriteTimeout``;
- errors: a failed connect or TLS handshake is ``ConnectError``, a broken connection
  ``ReadError``/``WriteError``; a clean end of stream reads ``b""`` (a TLS peer closing
  without ``close_notify`` too, as httpcore's anyio stream reads it);
- flow control both ways: reading pauses past :data:`READ_HIGH_WATER` buffered bytes, a write
  waits while the transport's buffer is full;
- writes coalesced: the small writes of one request (httpcore writes the head, then each body
  chunk) wait in a list until the task reads the answer, yields to the loop or passes
  :data:`COALESCE_BYTES`, and leave in one ``send``: a small upload costs one system call and one
  segment on the wire instead of two; a large body is written as it comes, with flow control;
- ``is_readable`` (the pool's idle-connection check) is true when a read would not wait: bytes
  or an end of stream already received, or the socket itself readable;
- connections as anyio opens them: every resolved address tried, happy eyeballs (250 ms),
  ``TCP_NODELAY`` (asyncio's default), the socket options and local address httpcore passes.

Under another event loop (trio) the wrapped default backend is used unchanged.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, NoReturn

import httpcore
from httpcore._utils import is_socket_readable

#: Buffered bytes past which the transport stops reading until the reader catches up.
READ_HIGH_WATER = 1 << 20
#: RFC 8305's connection attempt delay, as anyio uses it.
HAPPY_EYEBALLS_DELAY = 0.25
#: Pending request bytes past which a write goes to the transport at once (and may wait).
COALESCE_BYTES = 64 * 1024
_EOF_ERRORS = (ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _Protocol(asyncio.Protocol):
    """Received bytes in a queue of chunks, the end of the stream, and the flow-control waits."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.lost = False
        self.over_tls = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self._readable: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > READ_HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        # Plain TCP: keep the transport half open, httpcore closes it (as anyio does); TLS
        # closes it itself (asyncio warns when asked to keep it).
        return not self.over_tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.eof = True
        if exc is not None and not isinstance(exc, _EOF_ERRORS):
            self.error = exc
        self._wake_reader()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    async def wait_readable(self) -> None:
        self._readable = asyncio.get_running_loop().create_future()
        try:
            await self._readable
        finally:
            self._readable = None

    async def wait_drained(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()
        try:
            await self._drained
        finally:
            self._drained = None

    def take(self, max_bytes: int) -> bytes:
        chunk = self.chunks[0]
        if len(chunk) <= max_bytes:
            self.chunks.popleft()
        else:
            self.chunks[0] = chunk[max_bytes:]
            chunk = chunk[:max_bytes]
        self.buffered -= len(chunk)
        if self.reading_paused and self.buffered <= READ_HIGH_WATER // 2 and self.transport:
            self.reading_paused = False
            self.transport.resume_reading()
        return chunk


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection (plain or TLS) on an asyncio transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._socket = transport.get_extra_info("socket")
        self._pending: list[bytes] = []
        self._pending_size = 0

    def _flush(self) -> None:
        """Hand the pending writes to the transport, in one piece."""
        if not self._pending:
            return
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._pending_size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()  # the request this read waits the answer of goes out first
        protocol = self._protocol
        if not protocol.chunks and not protocol.eof:
            try:
                async with asyncio.timeout(timeout):
                    await protocol.wait_readable()
            except TimeoutError as exc:
                raise httpcore.ReadTimeout("timed out reading") from exc
        if protocol.chunks:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise httpcore.WriteError(str(protocol.error or "the connection is closed"))
        if not self._pending:
            # Whatever the task does next (read the answer, wait), the bytes leave before the
            # loop polls again.
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(buffer)
        self._pending_size += len(buffer)
        if self._pending_size < COALESCE_BYTES:
            return
        self._flush()
        if protocol.writing_paused:
            try:
                async with asyncio.timeout(timeout):
                    await protocol.wait_drained()
            except TimeoutError as exc:
                raise httpcore.WriteTimeout("timed out writing") from exc
            if protocol.lost and protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error))

    async def aclose(self) -> None:
        self._flush()  # sent as an unbuffered write would have been
        transport = self._transport
        if not transport.is_closing():
            transport.close()
        if transport.get_write_buffer_size():
            transport.abort()  # what anyio does: nothing left to flush when httpcore closes

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        self._flush()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except ConnectionError as exc:
            # The peer closed in the handshake (no TLS server there): what the ssl module
            # calls an EOF in violation of the protocol, as anyio's handshake reports it.
            # httpcore's pool drops the ``from``: the TLS error must be the context.
            await self.aclose()
            eof = ssl.SSLEOFError("the connection closed during the TLS handshake")
            eof.reason = "UNEXPECTED_EOF_WHILE_READING"  # OpenSSL 3's words for it
            eof.__cause__ = exc
            try:
                raise eof
            except ssl.SSLEOFError as handled:
                raise httpcore.ConnectError(str(handled)) from handled
        except OSError as exc:  # ssl.SSLError included
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # pragma: no cover - only when the loop is closing
            raise httpcore.ConnectError("the TLS handshake did not complete")
        assert isinstance(transport, asyncio.Transport)
        # From now on the protocol is fed, and paused, through the TLS transport.
        self._protocol.transport = transport
        self._protocol.over_tls = True
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof or is_socket_readable(self._socket)
        if info == "socket":
            return self._socket
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return _address(self._transport.get_extra_info("sockname"))
        if info == "server_addr":
            return _address(self._transport.get_extra_info("peername"))
        return None


def _address(value: Any) -> Any:
    # As anyio gives it: an IPv6 address without its flow info and scope id.
    if isinstance(value, tuple) and len(value) == 4:
        return value[:2]
    return value


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """
    Opens :class:`AsyncioStream` connections on asyncio; elsewhere ``fallback`` does.

    Args:
        fallback: The backend the pool had (httpcore's automatic one).
    """

    def __init__(self, fallback: httpcore.AsyncNetworkBackend) -> None:
        self.fallback = fallback

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not _on_asyncio():
            return await self.fallback.connect_tcp(
                host, port, timeout, local_address=local_address, socket_options=socket_options
            )
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol,
                    host,
                    port,
                    local_addr=local,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            _raise_connect_error(exc)
        return _opened(transport, protocol, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not _on_asyncio():
            return await self.fallback.connect_unix_socket(
                path, timeout, socket_options=socket_options
            )
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return _opened(transport, protocol, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


#: How asyncio words each error of a host whose every address failed (Python 3.11).
_ERRNO = re.compile(r"\[Errno (\d+)\]")


def _raise_connect_error(exc: OSError) -> NoReturn:
    """
    A failed connect as httpcore's ``ConnectError``, its context the socket's own error.

    When every address of a host failed, asyncio raises one ``OSError("Multiple exceptions:
    ...")`` with the errors only in its text; anyio's chain keeps them. When they share one
    error number, that error (a ``ConnectionRefusedError`` for 111) becomes the context, so the
    operator still reads "connection refused" (:func:`daemon.upstream.causes.transport_cause`).
    """
    numbers = set(_ERRNO.findall(str(exc))) if exc.errno is None else set()
    if len(numbers) == 1:
        errno = int(numbers.pop())
        try:
            raise OSError(errno, os.strerror(errno)) from exc
        except OSError as each:
            raise httpcore.ConnectError(str(exc)) from each
    raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc


def _opened(
    transport: asyncio.BaseTransport, protocol: _Protocol, options: Iterable[Any] | None
) -> AsyncioStream:
    assert isinstance(transport, asyncio.Transport)
    sock = transport.get_extra_info("socket")
    try:
        for option in options or ():
            sock.setsockopt(*option)
    except OSError as exc:
        transport.abort()
        raise httpcore.ConnectError(str(exc)) from exc
    return AsyncioStream(transport, protocol)


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # another event loop (trio): not ours to drive
        return False
    return True


__all__ = [
    "COALESCE_BYTES",
    "HAPPY_EYEBALLS_DELAY",
    "READ_HIGH_WATER",
    "AsyncioBackend",
    "AsyncioStream",
]
