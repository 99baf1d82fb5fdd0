"""
The limiter's capacity changed at run time (a replica's share of its PIM's budget): lowering it
cancels nothing, new requests wait until fewer than the new capacity are in flight; raising it
lets the waiting ones in; a cancelled waiter keeps no slot.
"""

from __future__ import annotations

import asyncio

import pytest

from daemon.upstream.throttle import UpstreamLimiter


class Requests:
    """Requests that enter the limiter and stay in flight until released, one by one."""

    def __init__(self, limiter: UpstreamLimiter) -> None:
        self.limiter = limiter
        self.entered: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, n: int) -> None:
        self.gates[n] = asyncio.Event()

        async def request() -> None:
            async with self.limiter.slot():
                self.entered.append(n)
                await self.gates[n].wait()

        self.tasks[n] = asyncio.ensure_future(request())

    async def finish(self, n: int) -> None:
        self.gates[n].set()
        await self.tasks[n]


async def settle() -> None:
    """Let every ready task run until it blocks (no timing: a fixed number of loop turns)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_lowering_the_capacity_cancels_nothing_and_new_requests_wait():
    limiter = UpstreamLimiter(max_in_flight=4)
    requests = Requests(limiter)
    for n in range(4):
        requests.start(n)
    await settle()
    assert [0, 1, 2, 3] == requests.entered

    limiter.set_capacity(2)
    requests.start(4)
    await settle()
    assert 4 == limiter.in_flight  # the four in flight go on
    assert not any(t.done() for t in requests.tasks.values())
    assert 4 not in requests.entered

    await requests.finish(0)
    await requests.finish(1)
    await settle()
    assert 4 not in requests.entered  # 2 still in flight: not below the new capacity
    await requests.finish(2)
    await settle()
    assert 4 in requests.entered
    assert 2 == limiter.in_flight
    await requests.finish(3)
    await requests.finish(4)
    assert 0 == limiter.in_flight


async def test_raising_the_capacity_lets_the_waiting_requests_in_first_come_first_served():
    limiter = UpstreamLimiter(max_in_flight=4)
    limiter.set_capacity(1)
    assert 1 == limiter.capacity
    assert 4 == limiter.max_in_flight  # the configured budget stays known
    requests = Requests(limiter)
    for n in range(4):
        requests.start(n)
    await settle()
    assert [0] == requests.entered

    limiter.set_capacity(3)
    await settle()
    assert [0, 1, 2] == requests.entered
    for n in range(4):
        await requests.finish(n)
    assert [0, 1, 2, 3] == requests.entered
    assert 3 == limiter.peak_in_flight


async def test_a_cancelled_waiter_keeps_no_slot():
    limiter = UpstreamLimiter(max_in_flight=1)
    requests = Requests(limiter)
    requests.start(0)
    requests.start(1)
    requests.start(2)
    await settle()
    requests.tasks[1].cancel()
    await settle()
    await requests.finish(0)
    await settle()
    assert [0, 2] == requests.entered
    await requests.finish(2)
    with pytest.raises(asyncio.CancelledError):
        await requests.tasks[1]
    requests.start(3)  # the slot is free again
    await settle()
    assert 3 in requests.entered
    await requests.finish(3)


async def test_a_waiter_cancelled_once_granted_gives_its_slot_back():
    """Granted a slot and cancelled before it ran: the next waiter gets the slot."""
    limiter = UpstreamLimiter(max_in_flight=1)
    requests = Requests(limiter)
    requests.start(0)
    requests.start(1)
    requests.start(2)
    await settle()
    limiter.set_capacity(2)  # grants a slot to 1 at once (it has not run yet)...
    requests.tasks[1].cancel()  # ...which is cancelled before it runs
    await settle()
    assert [0, 2] == requests.entered
    await requests.finish(0)
    await requests.finish(2)
    assert 0 == limiter.in_flight


def test_a_capacity_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        UpstreamLimiter(max_in_flight=4).set_capacity(0)
