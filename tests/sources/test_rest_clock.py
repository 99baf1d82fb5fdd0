"""The DAM's clock is reused from the latest answer: an idle pass costs one DAM request."""

from __future__ import annotations

from datetime import timedelta

import httpx

from daemon.core.records import Window
from daemon.sources import build_source, load_source_settings
from tests.sources.fakedam import BASE, FakeDam, rest_table


class Ticks:
    """A monotonic clock moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(max_age: float):
    dam = FakeDam({"a": BASE}, now=BASE + timedelta(hours=1))
    table = rest_table("cursor", clock_anchor_max_age=max_age, server_time_path="server_time")
    ticks = Ticks()
    source = build_source(
        "fake",
        load_source_settings(table),
        transport=httpx.MockTransport(dam.handler),
        monotonic=ticks,
    )
    return dam, source, ticks


async def test_server_now_after_a_listing_costs_no_request():
    """After a listing, server_now is the DAM's (Date) time plus the elapsed monotonic time."""
    dam, source, ticks = make(600)
    try:
        first = await source.server_now()
        async for _ in source.changes(Window(None, first)):
            pass
        before = dam.requests
        ticks.now += 30
        now = await source.server_now()
    finally:
        await source.aclose()
    assert (0, first + timedelta(seconds=30)) == (dam.requests - before, now)


async def test_an_old_anchor_and_a_disabled_anchor_probe_the_dam():
    """An anchor older than clock_anchor_max_age, or max age 0, sends a probe request."""
    for max_age, wait in [(600, 600), (0, 0)]:
        dam, source, ticks = make(max_age)
        try:
            await source.server_now()
            ticks.now += wait
            before = dam.requests
            await source.server_now()
        finally:
            await source.aclose()
        assert 1 == dam.requests - before
