"""
A scripted HTTP/1.1 server on 127.0.0.1 for tests that need real sockets.

Endless and trickling bodies, TLS handshakes and the raw request line cannot be shown through
``httpx.MockTransport``: they happen on the wire. Each connection gets one request and one
answer (``Connection: close``). Every answer loop is bounded and stops by itself; a client that
hangs up ends it at once.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


@dataclass
class Seen:
    """One request as it arrived: the request target exactly as sent, headers lowercased."""

    method: str
    target: str
    headers: dict[str, str]
    peer_cert: dict[str, Any] | None = None


@dataclass
class Wire:
    """What answers write through; counts the body bytes the server managed to send."""

    writer: asyncio.StreamWriter
    sent: int = 0

    async def head(self, status: int = 200, **headers: str) -> None:
        lines = [f"HTTP/1.1 {status} X", "Connection: close", f"Date: {DATE}"]
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def body(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.sent += len(data)


Answer = Callable[[Seen, Wire], Awaitable[None]]


def json_body(document: Any, **headers: str) -> Answer:
    """Answer ``document`` (or raw bytes) as ``application/json`` with a length."""
    data = document if isinstance(document, bytes) else json.dumps(document).encode()

    async def answer(_: Seen, wire: Wire) -> None:
        await wire.head(
            200, Content_Type="application/json", Content_Length=str(len(data)), **headers
        )
        await wire.body(data)

    return answer


def endless(chunk: int = 64 * 1024, cap: int = 64 * 1024 * 1024) -> Answer:
    """A chunked JSON body that goes on until the client hangs up (or ``cap`` bytes)."""

    async def answer(_: Seen, wire: Wire) -> None:
        await wire.head(200, Content_Type="application/json", Transfer_Encoding="chunked")
        await wire.body(b'5\r\n["a",\r\n')
        piece = b'"' + b"x" * (chunk - 3) + b'",'
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        while wire.sent < cap:
            await wire.body(frame)

    return answer


def trickle(
    data: bytes, *, every: float, content_type: str = "application/json", **headers: str
) -> Answer:
    """The headers at once, then ``data`` one byte every ``every`` seconds (bounded by its size)."""

    async def answer(_: Seen, wire: Wire) -> None:
        await wire.head(200, Content_Type=content_type, Content_Length=str(len(data)), **headers)
        for index in range(len(data)):
            await wire.body(data[index : index + 1])
            await asyncio.sleep(every)

    return answer


@dataclass
class Loopback:
    """
    ``async with Loopback(answer) as server``: serves ``answer`` on ``server.url``.

    Args:
        answer: Writes the answer to every request (or pick one by ``Seen.target``).
        tls: A server TLS context (then ``server.url`` is ``https``).
    """

    answer: Answer
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    wires: list[Wire] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def sent(self) -> int:
        """Body bytes written to every client so far."""
        return sum(w.sent for w in self.wires)

    async def __aenter__(self) -> Loopback:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            if not request_line:
                return
            method, target, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if length:
                await reader.readexactly(length)
            seen = Seen(method, target, headers, writer.get_extra_info("peercert"))
            self.seen.append(seen)
            wire = Wire(writer)
            self.wires.append(wire)
            await self.answer(seen, wire)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client hung up: exactly what several tests provoke
        finally:
            self._tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass


__all__ = ["DATE", "Loopback", "Seen", "Wire", "endless", "json_body", "trickle"]
