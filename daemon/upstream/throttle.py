"""
The fair-use limiter of one upstream and the 429 pause it shares across every task.

At most N requests in flight, an optional requests/second cap, and a *pause* that a 429 (with
its ``Retry-After``) sets for the whole upstream, not for the one task that saw it.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import deque
from datetime import UTC, datetime

from aiolimiter import AsyncLimiter


class UpstreamLimiter:
    """
    At most ``max_in_flight`` requests at once, at most ``rate`` per second, and a shared pause.

    A 429 calls :meth:`pause`; every request waiting for or entering a slot then waits until the
    pause is over, so one throttled task slows the whole upstream down, as the PIM asks.

    :meth:`set_capacity` changes the number of slots at run time (a replica's share of a PIM's
    budget): lowering it cancels nothing, the requests in flight finish and new ones wait until
    fewer than the new capacity hold a slot; raising it lets waiting requests in at once.
    Slots are granted first come, first served.
    """

    def __init__(self, max_in_flight: int = 4, rate: float | None = None) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self._capacity = max_in_flight
        self._held = 0  # slots granted (a request may still wait for the rate or a pause)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._rate = AsyncLimiter(rate, 1.0) if rate else None
        self._paused_until = 0.0
        self.in_flight = 0
        self.peak_in_flight = 0

    @property
    def capacity(self) -> int:
        """The slots requests may hold now (``max_in_flight`` unless :meth:`set_capacity`)."""
        return self._capacity

    def set_capacity(self, capacity: int) -> None:
        """
        Allow ``capacity`` requests in flight from now on (at least 1).

        Requests holding a slot keep it; above the new capacity, new ones wait for them.
        """
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self._held < self._capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._held += 1
                waiter.set_result(None)

    async def _acquire(self) -> None:
        if self._held < self._capacity and not self._waiters:
            self._held += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted, then cancelled before it ran: give the slot back
            else:
                waiter.cancel()  # _grant skips it
            raise

    def _release(self) -> None:
        self._held -= 1
        self._grant()

    def pause(self, seconds: float) -> None:
        """Hold every new request of this upstream for ``seconds``."""
        self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    async def _wait_pause(self) -> None:
        # The pause may be extended while we sleep, so look again after each wait.
        while (delay := self.paused_for) > 0:  # noqa: ASYNC110 (a deadline, not an event)
            await asyncio.sleep(delay)

    def slot(self) -> _Slot:
        """
        ``async with limiter.slot():`` one request in flight: waits for a pause to end, a free
        slot, a pause that began meanwhile and the rate; the slot is given back on leaving.
        """
        return _Slot(self)


class _Slot:
    """One use of :meth:`UpstreamLimiter.slot` (a class: no generator per request)."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: UpstreamLimiter) -> None:
        self._limiter = limiter

    async def __aenter__(self) -> None:
        limiter = self._limiter
        if limiter._paused_until:
            await limiter._wait_pause()
        await limiter._acquire()
        try:
            # A 429 may have arrived while we queued for the slot.
            if limiter._paused_until:
                await limiter._wait_pause()
            if limiter._rate is not None:
                await limiter._rate.acquire()
        except BaseException:
            limiter._release()
            raise
        limiter.in_flight += 1
        limiter.peak_in_flight = max(limiter.peak_in_flight, limiter.in_flight)

    async def __aexit__(self, *_: object) -> None:
        limiter = self._limiter
        limiter.in_flight -= 1
        limiter._release()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """
    Read a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    Returns:
        Seconds to wait (never negative), or ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


__all__ = ["UpstreamLimiter", "parse_retry_after"]
