"""
Reading answer bodies within bounds: a size cap for bodies read into memory, a deadline for
bodies streamed to the caller.

httpx's ``aread()`` buffers whatever the upstream sends: a 200 MB listing took the daemon to
960 MB and an endless chunked answer grew until the OOM killer. :func:`read_capped` reads in
chunks and stops at the cap, closing the connection. httpx's read timeout is per read, so an
upstream trickling one byte every few seconds never trips it: :class:`DeadlineStream` gives a
streamed body one absolute deadline instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx


class BodyTooLargeError(Exception):
    """The answer is (or announces itself) larger than the cap; the connection is closed."""

    def __init__(self, limit: int, announced: int | None) -> None:
        self.limit = limit
        self.announced = announced
        if announced is not None:
            message = f"the answer announces {announced} bytes, more than the {limit} allowed"
        else:
            message = f"the answer is longer than the {limit} bytes allowed"
        super().__init__(message)


async def read_capped(response: httpx.Response, limit: int) -> int:
    """
    Read a streamed response's body into ``response.content``, at most ``limit`` bytes.

    The cap counts decoded bytes, so a compressed bomb is stopped as well.

    Args:
        response: A response sent with ``stream=True``, body not read yet.
        limit: The most bytes kept in memory.

    Returns:
        The number of body bytes read.

    Raises:
        BodyTooLargeError: the body is larger; the response is closed, nothing is kept.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await response.aclose()
        raise BodyTooLargeError(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            chunks.clear()
            await response.aclose()
            raise BodyTooLargeError(limit, None)
        chunks.append(chunk)
    # What ``aread()`` does once the stream is consumed: ``.content``, ``.text`` and
    # ``.json()`` then work as on any read response.
    response._content = b"".join(chunks)
    return size


class DeadlineStream(httpx.AsyncByteStream):
    """
    A response body that must be fully read by an absolute deadline (event-loop time).

    Each read waits at most until the deadline; past it the read raises ``httpx.ReadTimeout``
    carrying ``message``, which every consumer already handles as a timeout. Only the reads are
    bounded, never the consumer's own work between them (no task is cancelled from outside).
    """

    def __init__(self, inner: httpx.AsyncByteStream, deadline: float, message: str) -> None:
        self._inner = inner
        self._deadline = deadline
        self._message = message

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._inner.__aiter__()
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise httpx.ReadTimeout(self._message) from exc
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


__all__ = ["BodyTooLargeError", "DeadlineStream", "read_capped"]
