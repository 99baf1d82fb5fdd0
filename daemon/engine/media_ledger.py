"""
:class:`MediaLedger`: uploads' media codes recorded at once, in as few store writes as the
transfers running together allow (group commit).

An upload's code must be durable before its transfer returns: from then on the binary exists in
the PIM whatever happens to its batch, so a crash must not cost a second upload. One write
transaction per upload made the SQLite write lock the busiest thing in media mode (each upload
waited for the batch commits and the other uploads' writes). Here the first upload to finish
starts a write in a worker thread; the codes of uploads that finish while it runs wait and go
together in the next one. Each caller still returns only once its own codes are written, and
gets the write's error if it failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Mapping


class MediaLedger:
    """
    Writes ``key -> media code`` pairs for concurrent callers, one write at a time.

    Args:
        write: Records a mapping in one store transaction (runs in a worker thread).
    """

    def __init__(self, write: Callable[[Mapping[str, str]], None]) -> None:
        self._write = write
        self._pending: dict[str, str] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        #: Store writes made (the tests read it).
        self.writes = 0

    async def record(self, codes: Mapping[str, str]) -> None:
        """
        Return once ``codes`` are written (with whatever else was pending).

        Raises:
            Exception: the store write's error (every caller of that write gets it).
        """
        if not codes:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.update(codes)
        self._waiting.append(done)
        if self._writer is None:
            # The first write starts now, not when a task gets its turn: as soon as alone.
            self._writer = asyncio.create_task(self._drain(self._start()), name="media-ledger")
        await done

    def _start(self) -> tuple[asyncio.Future[None], list[asyncio.Future[None]]]:
        """Submit what is pending to a worker thread; the write and its callers."""
        codes, waiting = self._pending, self._waiting
        self._pending, self._waiting = {}, []
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, self._write, codes)
        return loop.run_in_executor(None, call), waiting

    async def _drain(self, first: tuple[asyncio.Future[None], list[asyncio.Future[None]]]) -> None:
        """Wait for each write, settle its callers, start the next while codes are pending."""
        current: tuple[asyncio.Future[None], list[asyncio.Future[None]]] | None = first
        try:
            while current is not None:
                write, waiting = current
                try:
                    await write
                except asyncio.CancelledError:
                    _settle(waiting, None, cancelled=True)
                    _settle(self._waiting, None, cancelled=True)
                    self._pending, self._waiting = {}, []
                    raise
                except Exception as exc:  # every caller of this write raises it
                    _settle(waiting, exc)
                else:
                    self.writes += 1
                    _settle(waiting, None)
                current = self._start() if self._pending else None
        finally:
            self._writer = None


def _settle(
    waiting: list[asyncio.Future[None]], error: Exception | None, *, cancelled: bool = False
) -> None:
    for done in waiting:
        if done.done():  # its caller was cancelled meanwhile
            continue
        if cancelled:
            done.cancel()
        elif error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)


__all__ = ["MediaLedger"]
