"""A DAM that would be paged forever is stopped: a page limit, repeated pages, bounded tokens."""

from __future__ import annotations

import gc
import logging
import tracemalloc
from datetime import timedelta
from typing import Any

import httpx
import pytest

from daemon.core.errors import SourceProtocolError
from daemon.core.records import Window
from daemon.sources import build_source, load_source_settings
from tests.sources.fakedam import BASE, iso, rest_table

WINDOW = Window(BASE, BASE + timedelta(days=1))


class EndlessDam:
    """
    A listing that never ends: fresh cursors, the same page again, or both.

    It gives up after ``stop`` requests with an empty last page, so a broken guard ends the
    test (with a failed assertion) instead of hanging it.
    """

    def __init__(self, *, same_page: bool, token_bytes: int = 8, stop: int = 3000) -> None:
        self.same_page = same_page
        self.token_bytes = token_bytes
        self.stop = stop
        self.requests = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests > self.stop:
            return httpx.Response(200, json={"items": [], "next_cursor": None, "ids": []})
        page = 0 if self.same_page else self.requests
        when = BASE + timedelta(seconds=page)
        items = [{"id": f"p{page}-{n}", "updated_at": iso(when), "meta": {}} for n in range(3)]
        cursor = f"{self.requests:0{self.token_bytes}d}"
        ids = [f"id{self.requests}-{n}" for n in range(3)]
        return httpx.Response(
            200, json={"items": items, "next_cursor": cursor, "next": None, "ids": ids}
        )


def source_for(dam: EndlessDam, style: str, **paging: Any) -> Any:
    table = rest_table(style)
    table["rest"]["paging"].update(paging)  # type: ignore[index]
    table["rest"]["fields"] = {"metadata": "meta"}  # type: ignore[index]
    table["rest"]["ids_path"] = "/ids"  # type: ignore[index]
    return build_source(
        "endless", load_source_settings(table), transport=httpx.MockTransport(dam.handler)
    )


async def drain(source) -> int:
    read = 0
    async for page in source.changes(WINDOW):
        read += len(page.assets)
    return read


async def test_fresh_cursors_forever_end_at_max_pages():
    """A DAM sending a new cursor with every page is read for ``max_pages`` requests, then fails."""
    dam = EndlessDam(same_page=False)
    source = source_for(dam, "cursor", max_pages=25)
    with pytest.raises(SourceProtocolError) as info:
        await drain(source)
    await source.aclose()
    assert "did not end after 25 pages" in str(info.value)
    assert "limit: sources.endless.rest.paging.max_pages" in str(info.value)
    assert 25 == dam.requests


@pytest.mark.parametrize(
    ("style", "extra"),
    [
        ("offset", {"sort_param": None, "modified_since": None}),  # plain offsets
        ("offset", {}),  # anchored: sorted, with a modified-since bound
        ("page", {}),
        ("cursor", {}),
    ],
)
async def test_a_dam_ignoring_the_position_is_stopped_at_the_second_page(style, extra):
    """The same full page answered again (offset or cursor ignored) fails the walk at once."""
    dam = EndlessDam(same_page=True)
    table = rest_table(style)
    rest: dict[str, Any] = table["rest"]  # type: ignore[assignment]
    rest.update(extra, fields={"metadata": "meta"})
    source = build_source(
        "endless", load_source_settings(table), transport=httpx.MockTransport(dam.handler)
    )
    with pytest.raises(SourceProtocolError) as info:
        await drain(source)
    await source.aclose()
    assert "answered the same 3 items again" in str(info.value)
    assert dam.requests <= 3


async def test_remembered_tokens_stay_bounded_on_a_long_walk():
    """Pages 100 to 500 bring 13 MB of fresh 32 KB tokens; the walk keeps under 5 MB of it."""
    dam = EndlessDam(same_page=False, token_bytes=32 * 1024, stop=500)
    source = source_for(dam, "cursor")
    held: dict[int, int] = {}
    pages = 0
    # pytest keeps every captured log record: httpx's INFO lines (32 KB URLs each) must not be
    # emitted, whatever level an earlier test left the httpx logger at.
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    tracemalloc.start()
    try:
        async for _ in source.changes(WINDOW):
            pages += 1
            if pages in (100, 500):
                gc.collect()  # only what the suspended walk still references
                held[pages] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        httpx_logger.setLevel(level)
        await source.aclose()
    # A few dozen recent requests' URLs (httpx's own garbage) may be alive at either point.
    growth = held[500] - held[100]
    assert (500, True) == (pages, growth < 5 * 1024 * 1024), growth


async def test_an_endless_id_sweep_ends_at_max_pages():
    """The reconciliation ids endpoint is bounded by the same limit."""
    dam = EndlessDam(same_page=False)
    source = source_for(dam, "cursor", max_pages=7)
    batches = []
    with pytest.raises(SourceProtocolError) as info:
        async for batch in source.all_ids():
            batches.append(batch)
    await source.aclose()
    assert (7, 7) == (len(batches), dam.requests)
    assert "limit: sources.endless.rest.paging.max_pages" in str(info.value)
