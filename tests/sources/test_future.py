"""Future-dated assets are reported, assets of the settle window wait, no upper bound is sent."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.core.records import Window
from daemon.sources import build_source, load_source_settings
from daemon.sources.window import place
from tests.sources.fakedam import BASE, FakeDam, rest_table

STYLES = ["page", "offset", "cursor", "header_cursor", "next_url", "link"]
#: The fake DAM's Date header is BASE; a window ends 30 s before.
UNTIL = BASE - timedelta(seconds=30)


def dam_with_future() -> FakeDam:
    assets = {f"in{i}": UNTIL - timedelta(seconds=10 - i) for i in range(7)}
    assets["settling"] = UNTIL + timedelta(seconds=5)
    assets["tomorrow"] = BASE + timedelta(hours=23)
    assets["next-year"] = BASE + timedelta(days=365)
    assets["far"] = BASE + timedelta(days=3000)
    return FakeDam(assets, now=BASE)


async def read(source: Any, window: Window) -> tuple[list[Any], list[Any]]:
    assets, errors = [], []
    async for page in source.changes(window):
        assets.extend(page.assets)
        errors.extend(page.errors)
    return assets, errors


def build(dam: FakeDam, style: str, sent: list[httpx.Request] | None = None, **rest: Any) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        return dam.handler(request)

    settings = load_source_settings(rest_table(style, **rest))
    return build_source("fake", settings, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("offset_s", "expected"),
    [(-11, "earlier"), (-10, "window"), (9, "window"), (10, "later"), (99, "later")]
    + [(100, "future"), (10**6, "future")],
)
def test_place_table(offset_s, expected):
    """An updated_at is in the window, before it, in a later window, or beyond the horizon."""
    window = Window(BASE - timedelta(seconds=10), BASE + timedelta(seconds=10))
    horizon = BASE + timedelta(seconds=100)
    assert expected == place(BASE + timedelta(seconds=offset_s), window, horizon)


def test_window_wins_over_future():
    """A window reaching past the horizon (a full id sweep) yields what it asks for."""
    window = Window(None, datetime.max.replace(tzinfo=UTC))
    assert "window" == place(BASE + timedelta(days=9), window, BASE)


@pytest.mark.parametrize("style", STYLES)
async def test_future_dated_assets_are_errors_in_every_style(style):
    """Every paging style yields the window, skips the settle window, reports future dates."""
    dam = dam_with_future()
    sent: list[httpx.Request] = []
    source = build(dam, style, sent)
    try:
        await source.server_now()
        assets, errors = await read(source, Window(BASE - timedelta(hours=1), UNTIL))
    finally:
        await source.aclose()
    assert [f"in{i}" for i in range(7)] == [a.id for a in assets]
    assert ["far", "next-year"] == sorted(e.asset_id for e in errors)
    assert {("updated_at", "updated_at")} == {(e.field, e.path) for e in errors}
    far = next(e for e in errors if e.asset_id == "far")
    assert "is in the future (DAM time 2026-01-01T00:00:00+00:00, tolerance 86400 s)" in str(far)
    assert [] == [r.url for r in sent if "updated_before" in r.url.params]


async def test_tolerance_is_configurable():
    """With a tolerance of one hour, an asset 23 hours ahead is reported too."""
    dam = dam_with_future()
    source = build(dam, "cursor", future_tolerance=3600)
    try:
        await source.server_now()
        _, errors = await read(source, Window(BASE - timedelta(hours=1), UNTIL))
    finally:
        await source.aclose()
    assert ["far", "next-year", "tomorrow"] == sorted(e.asset_id for e in errors)


async def test_idle_window_costs_one_request_despite_reading_past_until():
    """An idle window whose settle window and future assets fit one page costs one request."""
    dam = dam_with_future()
    paging = {"style": "cursor", "param": "cursor", "cursor_path": "next_cursor", "page_size": 50}
    source = build(dam, "cursor", paging=paging)
    try:
        await source.server_now()
        before = dam.requests
        assets, errors = await read(source, Window(UNTIL, UNTIL))
    finally:
        await source.aclose()
    assert (1, [], 2) == (dam.requests - before, assets, len(errors))


async def test_fetch_refuses_a_future_dated_asset():
    """A retry by id reports a future-dated asset instead of writing it."""
    dam = dam_with_future()

    def by_ids(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params["ids"].split(",")
        answer = dam.handler(httpx.Request("GET", request.url.copy_with(query=b"limit=100")))
        items = [i for i in answer.json()["items"] if i["id"] in wanted]
        return httpx.Response(200, json={"items": items}, headers=answer.headers)

    transport = httpx.MockTransport(by_ids)
    source = build_source("fake", rest_table("cursor"), transport=transport)
    try:
        page = await source.fetch(["in1", "far"])
    finally:
        await source.aclose()
    assert (["in1"], ["far"]) == ([a.id for a in page.assets], [e.asset_id for e in page.errors])
    assert "updated_at" == page.errors[0].field


async def test_all_ids_without_ids_endpoint_counts_future_assets_as_live():
    """The full-listing id sweep keeps future-dated assets live so they are never deleted."""
    dam = dam_with_future()
    source = build(dam, "cursor")
    try:
        ids = [i async for chunk in source.all_ids() for i in chunk]
    finally:
        await source.aclose()
    assert sorted(dam.assets) == sorted(ids)


async def test_post_template_gets_a_far_upper_bound():
    """A body template's {until} gets a date no asset reaches, whatever the window."""
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        item = {"id": "x", "updated_at": "2099-01-01T00:00:00Z", "meta": {}}
        headers = {"Date": "Thu, 01 Jan 2026 00:00:00 GMT"}
        return httpx.Response(200, json={"items": [item]}, headers=headers)

    table = rest_table(
        "cursor",
        method="POST",
        body_template={"q": "updated>{since} AND updated<{until}", "sort_by": "updated_at"},
    )
    source = build_source("fake", table, transport=httpx.MockTransport(handler))
    try:
        await source.server_now()
        _, errors = await read(source, Window(UNTIL, UNTIL))
    finally:
        await source.aclose()
    assert b"updated<9999-12-31T00:00:00" in bodies[-1]
    assert ["x"] == [e.asset_id for e in errors]


def put(path: Path, mtime: float) -> None:
    path.write_bytes(b"data")
    os.utime(path, (mtime, mtime))


async def test_folder_reports_a_file_dated_in_the_future(tmp_path):
    """A file a year ahead of the filesystem's clock is an error; an hour ahead just waits."""
    now = time.time()
    put(tmp_path / "old.jpg", now - 3600)
    put(tmp_path / "hour.jpg", now + 3600)
    put(tmp_path / "year.jpg", now + 365 * 86400)
    table = {"name": "drop", "kind": "folder", "folder": {"path": str(tmp_path)}}
    source = build_source("drop", table)
    window = Window(None, datetime.now(UTC) + timedelta(days=1000))
    assets, errors = await read(source, window)
    assert (["old.jpg"], ["year.jpg"]) == ([a.id for a in assets], [e.asset_id for e in errors])
    assert "updated_at" == errors[0].field
    assert "is in the future" in errors[0].reason
