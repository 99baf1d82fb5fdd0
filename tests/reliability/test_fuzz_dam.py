"""
Fuzzing the readers of DAM answers: one item, a page on the wire, and the three paging walks.

Property: whatever the DAM sends, the reader gives a result or its documented error
(:class:`SourceAssetError` for one item, :class:`SourceProtocolError` for a page or a walk),
never another exception, and its work stays bounded by the input: a walk makes at most
``max_pages`` requests, whatever the answers. 50 examples each in ``make test``, 5,000 in
``make fuzz`` (the profiles of ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import DamAsset, SourcePage, Window
from daemon.settings.dam_sources import FieldPaths
from daemon.sources import build_source, load_source_settings
from daemon.sources.fields import EARLIEST, LATEST
from daemon.sources.rest_items import parse_item
from daemon.sources.rest_paging import (
    PageGuard,
    RawPage,
    anchored_pages,
    positional_pages,
    token_pages,
)
from tests.reliability.fuzz_inputs import ITEMS, PAGES, TEXT, example_rest_table, mangled

PATHS = FieldPaths.model_validate(example_rest_table("http://dam.test")["rest"]["fields"])
FORMATS = st.sampled_from(["iso", "iso_seconds", "epoch_s", "epoch_ms", "%d/%m/%Y %H:%M"])
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MAX_PAGES = 8


@given(raw=ITEMS, fmt=FORMATS, download=st.booleans())
def test_any_item_is_an_asset_or_its_own_error(raw, fmt, download):
    """Any JSON value as an item: a usable asset, or a SourceAssetError naming its field."""
    paths = PATHS.model_copy(update={"updated_at_format": fmt})
    try:
        asset = parse_item(raw, paths, source="fuzz", download=download)
    except SourceAssetError as error:
        fields = {"id", "updated_at", "metadata", "binary_url", "size"}
        assert error.field in fields, error
        return
    assert (True, True) == (
        isinstance(asset.id, str) and asset.id != "",
        EARLIEST <= asset.updated_at < LATEST,
    )
    assert isinstance(asset.metadata, dict)


# --- one listing on the wire ------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/html", "", "application/x-json"]
)
ANSWERS = st.lists(
    st.tuples(CONTENT_TYPES, mangled(PAGES) | st.binary(max_size=64), st.none() | TEXT),
    min_size=1,
    max_size=MAX_PAGES + 2,
)


def header_safe(text: str | None) -> bytes | None:
    """A header value as a server could send it (latin-1, one line), else ``None``."""
    if text is None or any(c in text for c in "\r\n\x00"):
        return None
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


class ScriptedDam:
    """Answers each listing request with the next scripted answer, then with empty pages."""

    def __init__(self, answers: Sequence[tuple[str, bytes, str | None]]) -> None:
        self.answers = list(answers)
        self.requests = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests > len(self.answers):
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        content_type, body, date = self.answers[self.requests - 1]
        headers = [(b"Content-Type", content_type.encode())]
        if (safe := header_safe(date)) is not None:
            headers.append((b"Date", safe))
        return httpx.Response(200, content=body, headers=headers)


async def read_window(source: Any, window: Window) -> list[SourcePage]:
    pages: list[SourcePage] = []
    try:
        async for page in source.changes(window):
            pages.append(page)
    finally:
        await source.aclose()
    return pages


@given(answers=ANSWERS, since=st.none() | st.just(NOW - timedelta(days=2)))
def test_any_listing_answer_is_pages_or_a_protocol_error(answers, since):
    """Any bytes as listing pages: pages of assets and errors, or one SourceProtocolError."""
    dam = ScriptedDam(answers)
    table = example_rest_table("http://dam.test", page_size=3, max_pages=MAX_PAGES)
    source = build_source(
        "fuzz", load_source_settings(table), transport=httpx.MockTransport(dam.handler)
    )
    try:
        pages = asyncio.run(read_window(source, Window(since=since, until=NOW)))
    except SourceProtocolError:
        pages = []
    assert dam.requests <= MAX_PAGES
    for page in pages:
        assert all(isinstance(a, DamAsset) for a in page.assets)
        assert all(isinstance(e, SourceAssetError) for e in page.errors)


# --- the paging walks, fed arbitrary pages ---------------------------------------------------

POOL_IDS = st.sampled_from(["a", "b", "c", "d", "e"])
POOL_TIMES = st.integers(0, 4).map(lambda n: NOW - timedelta(hours=1, seconds=n, microseconds=n))
ASSETS = st.builds(lambda i, t: DamAsset(id=i, updated_at=t, metadata={}), POOL_IDS, POOL_TIMES)
ERRORS = st.builds(
    lambda i, f: SourceAssetError(asset_id=i, field=f, path="p", reason="bad"),
    st.none() | POOL_IDS,
    st.sampled_from(["id", "updated_at"]),
)
TOKENS = st.none() | st.sampled_from(["", "t1", "t2", "t3"]) | st.text(max_size=4)


async def walk(style: str, data: st.DataObject) -> tuple[int, int]:
    """Drive one walk over drawn pages; returns (requests made, pages yielded)."""
    requests = 0

    async def fetch(since: Any, offset: int, limit: int, token: str | None) -> RawPage:
        nonlocal requests
        requests += 1
        items = data.draw(st.lists(ASSETS | ERRORS, max_size=limit + 1))
        size = data.draw(st.sampled_from([0, limit, limit + 1]))
        return RawPage(items=items, token=data.draw(TOKENS), offset=offset, size=size)

    guard = PageGuard(MAX_PAGES, key="fuzz.max_pages")
    pages: AsyncIterator[Sequence[DamAsset | SourceAssetError]]
    if style == "token":
        pages = token_pages(fetch, None, 3, guard)
    elif style == "positional":
        pages = positional_pages(fetch, 3, guard)
    else:
        since = data.draw(st.none() | POOL_TIMES)
        pages = anchored_pages(fetch, since, None, 3, lambda d: d.replace(microsecond=0), guard)
    yielded = 0
    try:
        async for _ in pages:
            yielded += 1
    except SourceProtocolError:
        pass
    return requests, yielded


@given(style=st.sampled_from(["token", "positional", "anchored"]), data=st.data())
def test_any_sequence_of_pages_ends_within_max_pages(style, data):
    """Whatever pages and tokens come back, a walk ends after at most max_pages requests."""
    requests, yielded = asyncio.run(walk(style, data))
    assert (True, True) == (requests <= MAX_PAGES, yielded <= MAX_PAGES)
