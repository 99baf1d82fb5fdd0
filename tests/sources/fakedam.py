"""A small mutable REST DAM for tests: every paging style, optional mutations per request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeDam:
    """Assets keyed by id: (updated_at, deleted); `on_request` runs before each listing answer."""

    def __init__(self, assets: dict[str, datetime], now: datetime) -> None:
        self.assets = {k: (v, False) for k, v in assets.items()}
        self.now = now
        self.on_request: Callable[[FakeDam], None] = lambda dam: None
        self.requests = 0

    def touch(self, asset_id: str, *, deleted: bool = False) -> None:
        self.now += timedelta(microseconds=1)
        self.assets[asset_id] = (self.now, deleted)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/assets":
            return httpx.Response(404, json={})
        self.requests += 1
        assert self.requests < 300, "the source does not stop paging"
        if self.requests > 1:
            self.on_request(self)
        q = request.url.params
        rows = [(ts, i, d) for i, (ts, d) in self.assets.items()]
        if "updated_since" in q:
            rows = [r for r in rows if r[0] >= parse(q["updated_since"])]
        if "updated_before" in q:
            rows = [r for r in rows if r[0] < parse(q["updated_before"])]
        rows.sort(key=(lambda r: (r[0], r[1])) if q.get("sort") else (lambda r: r[1]))
        limit = int(q.get("limit", 100))
        start = 0
        if "page" in q:
            start = (int(q["page"]) - 1) * limit
        elif "offset" in q:
            start = int(q["offset"])
        elif q.get("cursor"):
            ts_text, last_id = q["cursor"].split("|")
            key = (parse(ts_text), last_id)
            rows = [r for r in rows if (r[0], r[1]) > key]
        chunk = rows[start : start + limit]
        more = len(rows) > start + limit
        cursor = f"{iso(chunk[-1][0])}|{chunk[-1][1]}" if more and chunk else None
        next_url = None
        headers = {"Date": "Thu, 01 Jan 2026 00:00:00 GMT"}
        if cursor:
            nxt = request.url.copy_merge_params({"cursor": cursor})
            next_url = str(nxt)
            headers["Link"] = f'<{next_url}>; rel="next"'
            headers["X-Next-Cursor"] = cursor
        items = [{"id": i, "updated_at": iso(ts), "deleted": d, "meta": {}} for ts, i, d in chunk]
        body = {"items": items, "next_cursor": cursor, "next": next_url}
        return httpx.Response(200, json=body, headers=headers)


def rest_table(style: str, **rest: object) -> dict[str, object]:
    paging: dict[str, object] = {"style": style, "page_size": 3}
    if style == "offset":
        paging["param"] = "offset"
    if style == "cursor":
        paging.update(param="cursor", cursor_path="next_cursor")
    if style == "header_cursor":
        paging.update(style="cursor", param="cursor", cursor_header="X-Next-Cursor")
    if style == "next_url":
        paging.update(next_url_path="next")
    table: dict[str, object] = {
        "base_url": "http://dam.test",
        "changes_path": "/assets",
        "modified_since": {"name": "updated_since"},
        "modified_before": {"name": "updated_before"},
        "sort_param": "sort",
        "sort_value": "updated_at",
        "items_path": "items",
        "paging": paging,
        "fields": {"deleted": {"path": "deleted"}, "metadata": "meta"},
        "ids_param": "ids",
    }
    table.update(rest)
    return {"name": "fake", "kind": "rest", "rest": table, "http": {"retry": {"attempts": 1}}}
