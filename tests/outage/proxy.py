"""
A TCP proxy the tests control: the database "going away" and "coming back" without touching it.

The proxy runs its own event loop in a daemon thread, so that the code under test (in this
process or another) can block on the database while the test steers the proxy. ``cut`` stops
accepting and aborts every proxied connection (the client sees a reset, as when a database
server or its network dies); ``restore`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds any proxy operation may take before the test fails.
OPERATION_TIMEOUT = 10.0


class TcpProxy:
    """
    Forwards ``127.0.0.1:<port>`` to ``upstream_host:upstream_port`` until cut.

    Args:
        upstream_host: Where connections go (the real database server).
        upstream_port: Its port.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        state = "listening" if self.listening else "cut"
        return f"TcpProxy(127.0.0.1:{self.port} -> {self.upstream[0]}:{self.upstream[1]}, {state})"

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted."""
        return self._server is not None

    @property
    def open_connections(self) -> int:
        """Client-side connections currently proxied."""
        return len(self._tasks)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(OPERATION_TIMEOUT)

    def start(self) -> TcpProxy:
        """
        Start the loop thread and listen on a free loopback port.

        Returns:
            The proxy, with ``port`` set.
        """
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Stop accepting and abort every proxied connection (the database "goes away")."""
        self._call(self._cut())

    def restore(self) -> None:
        """Accept connections again on the same port (the database "comes back")."""
        self._call(self._listen())

    def close(self) -> None:
        """Cut everything and stop the loop thread (idempotent)."""
        if not self._thread.is_alive():
            return
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(OPERATION_TIMEOUT)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=OPERATION_TIMEOUT)
        if server is not None:
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(upstream_writer)
            pumps = [
                asyncio.create_task(_pump(reader, upstream_writer)),
                asyncio.create_task(_pump(upstream_reader, writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass  # upstream unreachable or the proxy cut: the client sees its socket close
        finally:
            for end in (writer, upstream_writer):
                if end is not None:
                    self._writers.discard(end)
                    end.transport.abort()
            self._tasks.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until EOF or an error."""
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


__all__ = ["OPERATION_TIMEOUT", "TcpProxy"]
