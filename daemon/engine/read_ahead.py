"""
A source's pages read one ahead: the next page is requested while the current one is screened,
batched and submitted (mapping runs on the reader's path, and the reader may also wait for a
commit when the pipeline is full), so the DAM's latency overlaps that work.

At most one page waits ahead: memory stays O(batch). A cursor-paged listing is still read one
page after the other; only the wait moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from daemon.core.records import SourcePage


class ReadAhead:
    """
    ``pages`` with one read in flight ahead of the consumer.

    A read's failure surfaces when its page is asked for; cancelling that wait (a deadline)
    cancels the read. :meth:`aclose` cancels a read in flight and closes the listing.
    """

    def __init__(self, pages: AsyncIterator[SourcePage]) -> None:
        self._pages = pages
        self._next: asyncio.Task[SourcePage | None] | None = None
        self._done = False

    def __aiter__(self) -> ReadAhead:
        return self

    async def __anext__(self) -> SourcePage:
        if self._next is None:
            if self._done:
                raise StopAsyncIteration
            self._next = asyncio.create_task(self._read())
        page = await self._next
        self._next = None
        if page is None:
            self._done = True
            raise StopAsyncIteration
        self._next = asyncio.create_task(self._read())
        return page

    async def _read(self) -> SourcePage | None:
        try:
            return await anext(self._pages)
        except StopAsyncIteration:
            return None

    async def aclose(self) -> None:
        """Cancel the read ahead, if any, and close the listing (a pass that stopped early)."""
        task, self._next = self._next, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: nobody asks for that page any more
        self._done = True
        close = getattr(self._pages, "aclose", None)
        if close is not None:
            await close()


__all__ = ["ReadAhead"]
