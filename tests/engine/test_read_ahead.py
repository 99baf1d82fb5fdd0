"""The next DAM page is requested while the current one is screened and batched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from daemon.core.errors import SourceUnavailable
from daemon.core.records import DamAsset, SourcePage
from daemon.engine.read_ahead import ReadAhead

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Listing:
    """Pages 1..n; each read waits for its own gate, so the test sees which were requested."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.gates = [asyncio.Event() for _ in range(pages)]
        self.requested: list[int] = []
        self.closed = False
        self.fail_at = fail_at

    async def pages(self) -> AsyncIterator[SourcePage]:
        try:
            for number, gate in enumerate(self.gates, start=1):
                self.requested.append(number)
                await gate.wait()
                if number == self.fail_at:
                    raise SourceUnavailable("DAM down")
                yield SourcePage([DamAsset(id=f"a{number}", updated_at=T0)])
        finally:
            self.closed = True


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_next_page_is_requested_while_the_current_one_is_used():
    """Page 2 is asked for as soon as page 1 is handed out; the pages come in order, once."""
    listing = Listing(3)
    ahead = ReadAhead(listing.pages())
    for gate in listing.gates:
        gate.set()
    first = await anext(ahead)
    await settle()
    assert [1, 2] == listing.requested
    assert ["a1"] == [a.id for a in first.assets]
    rest = [page.assets[0].id async for page in ahead]
    assert ["a2", "a3"] == rest
    assert [1, 2, 3] == listing.requested
    await ahead.aclose()
    assert listing.closed


async def test_closing_cancels_the_page_in_flight_and_closes_the_listing():
    """A pass that stops early cancels the read ahead and closes the source's listing."""
    listing = Listing(3)
    ahead = ReadAhead(listing.pages())
    listing.gates[0].set()
    await anext(ahead)
    await settle()
    assert [1, 2] == listing.requested  # page 2 waits on its gate
    await ahead.aclose()
    assert listing.closed
    assert [1, 2] == listing.requested


async def test_a_failed_read_surfaces_when_its_page_is_asked_for():
    """The DAM fails on page 2: the error comes with page 2, not while page 1 is used."""
    listing = Listing(3, fail_at=2)
    ahead = ReadAhead(listing.pages())
    for gate in listing.gates:
        gate.set()
    await anext(ahead)
    await settle()
    with pytest.raises(SourceUnavailable):
        await anext(ahead)
    await ahead.aclose()
    assert listing.closed


async def test_a_cancelled_wait_cancels_the_read_and_closing_still_works():
    """A deadline that cancels the wait for a page cancels that read; closing then is safe."""
    listing = Listing(2)
    ahead = ReadAhead(listing.pages())
    waiting = asyncio.create_task(anext(ahead))
    await settle()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await ahead.aclose()
    assert listing.closed
