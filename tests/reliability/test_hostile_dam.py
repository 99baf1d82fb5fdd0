"""
Hostile DAM answers the simulator cannot produce, served by a purpose-built fake DAM.

The fake speaks the generic shape of ``config/damsync.example.toml`` through an
``httpx.MockTransport`` and the PIM simulator runs in-process (as ``tests/engine``): unlike the
rest of this folder no TCP, because the hostility is in the answers, not in the network.
Promise: every bad record ends as a failure naming the asset, the field and why; the rest of
the batch is written; an unreadable page fails the pass without moving the cursor.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.mapping import sanitise_code
from daemon.mapping.codes import CODE_RE, MAX_CODE_LENGTH
from daemon.service.wiring import Services, SyncApp
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import ROOT, build_world_settings

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
T0 = NOW - timedelta(hours=1)
BASE_URL = "http://127.0.0.1:8082"  # the example config's DAM URL: only the transport answers
WEIRD_IDS = ["with space", "slash/ed", "ünïcødé-ß", "x" * 300, "a b", "a_b"]


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Truncated(httpx.AsyncByteStream):
    """A body whose connection breaks after a few bytes."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"\xff\xd8" + b"j" * 48
        raise httpx.ReadError("connection reset by peer")


@dataclass
class HostileDam:
    """A generic-shape DAM serving whatever raw items a test puts in, in that order."""

    items: list[Any] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    page_size: int = 100
    #: Pages (0-based) answered with an nginx error page instead of JSON.
    html_pages: set[int] = field(default_factory=set)
    listings: int = 0

    def add(self, asset_id: str, when: datetime, sku: str, **extra: Any) -> dict[str, Any]:
        """Add a well-formed image asset (``extra`` overrides fields); returns the raw item."""
        name = f"f{len(self.files)}"
        body = f"jpeg bytes of {name}".encode()
        self.files[name] = body
        item: dict[str, Any] = {
            "id": asset_id,
            "updated_at": iso(when),
            "deleted": False,
            "file": {
                "url": f"{BASE_URL}/files/{name}",
                "filename": f"{name}.jpg",
                "mime_type": "image/jpeg",
                "size": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            "metadata": {"title": {"en_US": f"Title {name}"}, "sku": sku},
        }
        item.update(extra)
        self.items.append(item)
        return item

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/files/"):
            return self._file(path.removeprefix("/files/"))
        if path != "/generic/assets":
            return httpx.Response(404, json={"error": "no such endpoint"})
        params = request.url.params
        if "ids" in params:
            wanted = set(params["ids"].split(","))
            found = [i for i in self.items if isinstance(i, dict) and i.get("id") in wanted]
            return self._page(found, None)
        self.listings += 1
        since = params.get("updated_since")
        rows = [i for i in self.items if since is None or self._at_or_after(i, since)]
        start = int(params.get("cursor") or 0)
        page_no = start // self.page_size
        if page_no in self.html_pages:
            html = "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
            return httpx.Response(200, text=html, headers={"Content-Type": "text/html"})
        end = start + self.page_size
        return self._page(rows[start:end], str(end) if end < len(rows) else None)

    @staticmethod
    def _at_or_after(item: Any, since: str) -> bool:
        """A DAM cannot filter what it cannot read: such records are always listed."""
        try:
            when = datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00"))
        except (TypeError, KeyError, ValueError, AttributeError):
            return True
        return when >= datetime.fromisoformat(since.replace("Z", "+00:00"))

    def _page(self, items: list[Any], cursor: str | None) -> httpx.Response:
        body = {"items": items, "next_cursor": cursor, "server_time": iso(NOW)}
        return httpx.Response(200, json=body)

    def _file(self, name: str) -> httpx.Response:
        if name == "truncated":
            headers = {"Content-Type": "image/jpeg", "Content-Length": "4000"}
            return httpx.Response(200, stream=Truncated(), headers=headers)
        if name == "lying":
            body = b"\xff\xd8" + b"l" * 98
            headers = {"Content-Type": "image/jpeg", "Content-Length": "150"}
            return httpx.Response(200, content=body, headers=headers)
        if name not in self.files:
            return httpx.Response(404, json={"error": "gone"})
        return httpx.Response(200, content=self.files[name], headers={"Content-Type": "image/jpeg"})


@dataclass
class Rig:
    """The engine wired to the hostile DAM and the in-process PIM simulator."""

    dam: HostileDam
    app: SyncApp
    services: Services
    pim: httpx.AsyncClient

    @property
    def runner(self) -> Any:
        return self.app.runners[0]

    def cursor(self) -> Any:
        checkpoint = self.services.store.load_checkpoint("demo")
        return None if checkpoint is None else checkpoint.cursor

    def failures(self) -> dict[str, Any]:
        return {f.dam_id: f for f in self.services.store.list_failures("demo")}

    async def pim_packshots(self) -> dict[str, Any]:
        answer = await self.pim.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        )
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        found: dict[str, Any] = {}
        url: str | None = "/api/rest/v1/asset-families/packshots/assets"
        for _ in range(1000):  # bounded paging
            if url is None:
                break
            page = (await self.pim.get(url, headers=headers)).json()
            found.update({item["code"]: item for item in page["_embedded"]["items"]})
            nxt = page["_links"].get("next")
            url = httpx.URL(nxt["href"]).raw_path.decode() if nxt else None
        return found


def sku_of(item: dict[str, Any] | None) -> Any:
    if item is None:
        return None
    return next((v["data"] for v in item["values"].get("product_ref", [])), None)


@pytest.fixture(name="rig")
async def _rig(tmp_path: Path) -> AsyncIterator[Rig]:
    dam = HostileDam()
    pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    settings = build_world_settings(tmp_path)
    services = Services.create(settings, registry=CollectorRegistry())
    services.store.upgrade()
    app = SyncApp.build(
        settings,
        services,
        pim_transport=httpx.ASGITransport(pim_app),
        source_transports={"demo": httpx.MockTransport(dam.handler)},
    )
    await app.start()
    pim = httpx.AsyncClient(transport=httpx.ASGITransport(pim_app), base_url="http://pim")
    try:
        yield Rig(dam, app, services, pim)
    finally:
        await pim.aclose()
        await app.aclose()
        services.store.dispose()


def stamps() -> Iterator[datetime]:
    when = T0
    while True:
        when += timedelta(seconds=1)
        yield when


#: dam id -> (field the failure names, words of the reason)
EXPECTED = {
    "no-file": ("binary_url", "missing on a live asset"),
    "file-404": ("binary_url", "answered HTTP 404"),
    "length-lies": ("size", "answer announces 150 bytes, asset record says 100"),
    "truncated": ("binary", "truncated download: connection broke after 50 bytes"),
    "no-date": ("updated_at", "missing"),
    "bad-date": ("updated_at", "unparseable date"),
    "future": ("updated_at", "is in the future"),
    "?id": ("id", "item is not a JSON object but int"),
}


def hostile_listing(dam: HostileDam) -> list[str]:
    """Fill ``dam`` with good, duplicate, weird-id and broken records; returns the good ids."""
    clock = stamps()
    good = [f"good-{n}" for n in range(3)]
    dam.add(good[0], next(clock), "G0")
    newer, older = next(clock) + timedelta(seconds=5), next(clock)
    # The same id twice in one page, the newer version first.
    dam.add("dup", newer, "DUP-NEW")
    dam.add("dup", older, "DUP-OLD")
    for asset_id in WEIRD_IDS:
        dam.add(asset_id, next(clock), f"W-{asset_id[:10]}")
    dam.add(good[1], next(clock), "G1")
    dam.add("no-file", next(clock), "NF", file=None)
    missing = dam.add("file-404", next(clock), "404")
    missing["file"] = dict(missing["file"], url=f"{BASE_URL}/files/nowhere")
    lying = dam.add("length-lies", next(clock), "LL")
    lying["file"] = {**lying["file"], "url": f"{BASE_URL}/files/lying", "size": 100}
    del lying["file"]["sha256"]
    cut = dam.add("truncated", next(clock), "TR")
    cut["file"] = {**cut["file"], "url": f"{BASE_URL}/files/truncated", "size": 4000}
    del cut["file"]["sha256"]
    del dam.add("no-date", next(clock), "ND")["updated_at"]
    dam.add("bad-date", next(clock), "BD", updated_at="last tuesday-ish")
    dam.items.append(42)
    dam.add("future", NOW + timedelta(days=400), "FUT")
    dam.add(good[2], next(clock), "G2")
    return [*good, "dup", *WEIRD_IDS]


async def test_hostile_records_fail_alone_through_the_engine(rig: Rig) -> None:
    """Each hostile record is one failure naming asset, field and reason; the rest is written."""
    written_ids = hostile_listing(rig.dam)
    result = await rig.runner.run_once()
    assert ("partial", len(EXPECTED)) == (result.status, result.failed), result.error
    failures = rig.failures()
    assert set(EXPECTED) == set(failures)
    for dam_id, (field_name, reason) in EXPECTED.items():
        detail = failures[dam_id].detail
        who = "asset with unreadable id" if dam_id == "?id" else f"asset {dam_id!r}"
        assert (True, True, True) == (
            who in detail,
            f"field {field_name!r}" in detail,
            reason in detail,
        ), detail
    pim = await rig.pim_packshots()
    codes = {asset_id: sanitise_code(asset_id) for asset_id in written_ids}
    assert set(codes.values()) == set(pim)
    # The newest version of the duplicated id wins, whatever the order in the page.
    assert "DUP-NEW" == sku_of(pim[codes["dup"]])
    assert "G2" == sku_of(pim[codes["good-2"]])
    assert len(WEIRD_IDS) == len({codes[i] for i in WEIRD_IDS})
    assert [] == [c for c in codes.values() if not CODE_RE.match(c) or len(c) > MAX_CODE_LENGTH]


async def test_invalid_ids_keep_their_codes_across_passes(rig: Rig) -> None:
    """An id that is no valid code maps to the same PIM asset on every later change."""
    clock = stamps()
    for asset_id in WEIRD_IDS:
        rig.dam.add(asset_id, next(clock), "FIRST")
    first = await rig.runner.run_once()
    codes = set(await rig.pim_packshots())
    rig.dam.items.clear()
    later = NOW - timedelta(seconds=30)
    for asset_id in WEIRD_IDS:
        rig.dam.add(asset_id, later, "SECOND")
    second = await rig.runner.run_once()
    pim = await rig.pim_packshots()
    assert ("succeeded", "succeeded") == (first.status, second.status), second.error
    assert (len(WEIRD_IDS), codes) == (len(codes), set(pim))
    assert {"SECOND"} == {sku_of(item) for item in pim.values()}


async def test_html_page_fails_the_pass_and_keeps_the_cursor(rig: Rig) -> None:
    """An HTML page mid-listing fails the pass naming the endpoint; the cursor stays put."""
    clock = stamps()
    rig.dam.page_size = 3
    for n in range(4):
        rig.dam.add(f"before-{n}", next(clock), f"B{n}")
    assert "succeeded" == (await rig.runner.run_once()).status
    cursor = rig.cursor()
    assert cursor is not None
    for n in range(10):
        rig.dam.add(f"after-{n}", next(clock), f"A{n}")
    rig.dam.html_pages = {1}
    failed = await rig.runner.run_once()
    assert ("failed", cursor) == (failed.status, rig.cursor())
    assert "SourceProtocolError" in (failed.error or ""), failed.error
    assert "/generic/assets" in (failed.error or ""), failed.error
    assert {} == rig.failures()
    rig.dam.html_pages = set()
    healed = await rig.runner.run_once()
    pim = await rig.pim_packshots()
    assert ("succeeded", 14) == (healed.status, len(pim)), healed.error
    assert "A9" == sku_of(pim[sanitise_code("after-9")])
