"""
A DAM that answers whatever bytes a corpus case gives it, wired to the whole engine.

The generic shape of ``config/damsync.example.toml`` is served through an
``httpx.MockTransport`` (every request is recorded, headers included), the PIM simulator runs
in-process and the store is SQLite in ``tmp_path``. Listing pages are written with
``json.dumps(allow_nan=True)``, as a careless server does, unless a case hands raw bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import ROOT, build_world_settings

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BASE_URL = "http://127.0.0.1:8082"  # the example config's DAM URL: only the transport answers
#: The example configuration's DAM token: it must never reach another origin.
DAM_TOKEN = "demo-token"
JPEG = b"\xff\xd8\xff\xe0 a small jpeg"


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def good_item(asset_id: str, when: datetime, sku: str, **over: Any) -> dict[str, Any]:
    """A well-formed image item of the generic shape; ``over`` replaces top-level fields."""
    item: dict[str, Any] = {
        "id": asset_id,
        "updated_at": iso(when),
        "deleted": False,
        "file": {
            "url": f"{BASE_URL}/files/{asset_id}",
            "filename": f"{asset_id}.jpg",
            "mime_type": "image/jpeg",
            "size": len(JPEG),
            "sha256": hashlib.sha256(JPEG).hexdigest(),
        },
        "metadata": {"title": {"en_US": f"Title {asset_id}"}, "sku": sku},
    }
    item.update(over)
    return item


Answer = Callable[[httpx.Request], httpx.Response]


@dataclass(frozen=True)
class Written:
    """Expected: the item is written under ``dam_id``."""

    dam_id: str


@dataclass(frozen=True)
class Failed:
    """Expected: one failure row for ``dam_id`` (``?id``: unreadable) naming field and words."""

    dam_id: str
    field: str
    words: str


@dataclass
class RawDam:
    """
    One listing of ``items`` (or ``pages``: raw answers in order), files by name.

    ``files`` maps the last URL segment to an answer; absent names answer ``JPEG``. The clock
    probe (a one-item listing, before each pass) is answered by ``probe``, else by an empty
    page with the server time.
    """

    items: list[Any] = field(default_factory=list)
    pages: list[Answer] = field(default_factory=list)
    probe: Answer | None = None
    files: dict[str, Answer] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    listings: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if request.url.host != "127.0.0.1" or path.startswith("/files/"):
            name = path.rsplit("/", 1)[-1]
            if name in self.files:
                return self.files[name](request)
            return httpx.Response(200, content=JPEG, headers={"Content-Type": "image/jpeg"})
        if path != "/generic/assets":
            return httpx.Response(404, json={"error": "no such endpoint"})
        if "ids" in request.url.params:
            wanted = set(request.url.params["ids"].split(","))
            found = [i for i in self.items if isinstance(i, dict) and str(i.get("id")) in wanted]
            return page_answer(found)
        if request.url.params.get("limit") == "1":
            return self.probe(request) if self.probe is not None else page_answer([])
        self.listings += 1
        if self.pages:
            if self.listings <= len(self.pages):
                return self.pages[self.listings - 1](request)
            return page_answer([])
        return page_answer(self.items)


def page_answer(items: list[Any], cursor: Any = None, **extra: Any) -> httpx.Response:
    """A listing page written with NaN and Infinity literals allowed."""
    body = {"items": items, "next_cursor": cursor, "server_time": iso(NOW), **extra}
    return raw_answer(json.dumps(body, allow_nan=True).encode())


def raw_answer(
    body: bytes, content_type: str = "application/json", **headers: str
) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": content_type, **headers})


@dataclass
class Rig:
    """The engine wired to a :class:`RawDam` and the in-process PIM simulator."""

    dam: RawDam
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

    async def packshots(self) -> dict[str, Any]:
        """Every packshot in the PIM, by code."""
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

    def leaked_to(self) -> list[str]:
        """Hosts other than the DAM's that received the DAM's credentials."""
        return [
            str(r.url.host)
            for r in self.dam.seen
            if r.url.host != "127.0.0.1"
            and (DAM_TOKEN in r.headers.get("authorization", "") or DAM_TOKEN in str(r.url))
        ]


def code(asset_id: str) -> str:
    return sanitise_code(asset_id)


def stamps(start: datetime = NOW - timedelta(hours=1)) -> Callable[[], datetime]:
    """Successive distinct times, a second apart, inside the first window."""
    state = {"when": start}

    def step() -> datetime:
        state["when"] += timedelta(seconds=1)
        return state["when"]

    return step


@asynccontextmanager
async def raw_rig(tmp_path: Path, dam: RawDam, **env: str) -> AsyncIterator[Rig]:
    """The wired engine on ``dam``; ``env`` adds ``DAMSYNC_*`` settings."""
    pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    settings = build_world_settings(tmp_path, **env)
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
