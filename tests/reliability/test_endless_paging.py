"""
A DAM that pages forever fails the pass instead of holding it: through the whole engine.

The DAM (an ``httpx.MockTransport``, the generic shape of ``config/damsync.example.toml``)
either gets stuck answering one page with a fresh cursor every time, or invents new assets
forever. Promise: the pass fails with an error naming the reason (and the limit's key), the
batches committed before stay, and the cursor never passes an asset that was not read.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import EXAMPLE, ROOT

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
T0 = NOW - timedelta(hours=1)
JPEG = b"\xff\xd8 one shared jpeg"
#: The DAM stops by itself after this many listings (an empty page), so a test never hangs.
GIVE_UP = 60


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cursor_time(n: int) -> datetime:
    """The ``updated_at`` of asset ``n``."""
    return T0 + timedelta(milliseconds=10 * n)


def raw_item(n: int) -> dict[str, Any]:
    return {
        "id": f"a{n:04d}",
        "updated_at": iso(cursor_time(n)),
        "deleted": False,
        "file": {
            "url": "http://127.0.0.1:8082/files/one.jpg",
            "filename": f"a{n}.jpg",
            "mime_type": "image/jpeg",
            "size": len(JPEG),
            "sha256": hashlib.sha256(JPEG).hexdigest(),
        },
        "metadata": {"title": {"en_US": f"Title {n}"}, "sku": f"S{n}"},
    }


@dataclass
class EndlessDam:
    """``count`` assets (``None``: endless), paged by offset cursors; optionally stuck."""

    count: int | None
    #: From this offset on, the same page is answered with a fresh cursor every time.
    stuck_at: int | None = None
    listings: int = 0
    offsets: list[int] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/files/"):
            return httpx.Response(200, content=JPEG, headers={"Content-Type": "image/jpeg"})
        params = request.url.params
        limit = int(params.get("limit", 100))
        if "ids" in params:
            wanted = params["ids"].split(",")
            found = [raw_item(int(i[1:])) for i in wanted]
            return self._page(found, None)
        self.listings += 1
        start = int(params.get("cursor") or 0)
        self.offsets.append(start)
        if self.listings > GIVE_UP:
            return self._page([], None)
        if self.stuck_at is not None and start >= self.stuck_at:
            return self._page(self._rows(self.stuck_at, limit), str(start + limit))
        rows = self._rows(start, limit)
        more = self.count is None or start + limit < self.count
        return self._page(rows, str(start + limit) if more else None)

    def _rows(self, start: int, limit: int) -> list[dict[str, Any]]:
        end = start + limit if self.count is None else min(start + limit, self.count)
        return [raw_item(n) for n in range(start, end)]

    @staticmethod
    def _page(items: list[Any], cursor: str | None) -> httpx.Response:
        body = {"items": items, "next_cursor": cursor, "server_time": iso(NOW)}
        return httpx.Response(200, json=body)


@dataclass
class Rig:
    dam: EndlessDam
    app: SyncApp
    services: Services

    @property
    def runner(self) -> Any:
        return self.app.runners[0]

    def cursor(self) -> Any:
        checkpoint = self.services.store.load_checkpoint("demo")
        return None if checkpoint is None else checkpoint.cursor


def config(tmp_path: Path, **edits: str) -> Path:
    """
    The example configuration with pages and batches of 10, each batch committed before the
    next page is read (``pipeline_depth = 1``: which batches committed is then certain).
    """
    text = EXAMPLE.read_text()
    replacements = {
        "page_size = 100\n": "page_size = 10\n",
        "batch_size = 100 ": "batch_size = 10 ",
        "pipeline_depth = 4 ": "pipeline_depth = 1 ",
        "reconcile_interval = 3600 ": "# reconcile off ",
        **edits,
    }
    for old, new in replacements.items():
        assert old in text, f"the example config no longer contains {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "damsync.toml"
    path.write_text(text)
    return path


@pytest.fixture(name="rig_factory")
async def _rig_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    built: list[Rig] = []

    async def make(dam: EndlessDam, **edits: str) -> Rig:
        environ = {
            "DAMSYNC_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}",
            "DAMSYNC_PIM__HTTP__RETRY__ATTEMPTS": "3",
            "DAMSYNC_PIM__HTTP__RETRY__WAIT_INITIAL": "0.01",
            "DAMSYNC_PIM__HTTP__RETRY__WAIT_MAX": "0.05",
        }
        settings = load_settings(config(tmp_path, **edits), environ)
        services = Services.create(settings, registry=CollectorRegistry())
        services.store.upgrade()
        pim_app = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
        app = SyncApp.build(
            settings,
            services,
            pim_transport=httpx.ASGITransport(pim_app),
            source_transports={"demo": httpx.MockTransport(dam.handler)},
        )
        await app.start()
        rig = Rig(dam, app, services)
        built.append(rig)
        return rig

    yield make
    for rig in built:
        await rig.app.aclose()
        rig.services.store.dispose()


async def test_a_stuck_page_fails_the_pass_and_the_cursor_stays_before_unread_assets(
    rig_factory,
):
    """A DAM repeating page 4 with fresh cursors: the pass fails; assets 40-49 are read later."""
    dam = EndlessDam(count=50, stuck_at=30)
    rig = await rig_factory(dam)
    failed = await rig.runner.run_once()
    cursor = rig.cursor()
    repeated = "answered the same 10 items again" in (failed.error or "")
    assert ("failed", True) == (failed.status, repeated), failed.error
    assert dam.listings <= 6, dam.offsets
    # The three batches committed stay; the cursor is below every asset not read (40-49).
    assert cursor is not None and cursor_time(29) == cursor.updated_at, cursor
    dam.stuck_at = None
    healed = await rig.runner.run_once()
    assert ("succeeded", cursor_time(49)) == (healed.status, rig.cursor().updated_at)


async def test_an_endless_listing_stops_at_max_pages_keeping_committed_batches(rig_factory):
    """Fresh assets forever: ``max_pages`` ends the pass; what was committed stays committed."""
    dam = EndlessDam(count=None)
    rig = await rig_factory(dam, **{"page_size = 10\n": "page_size = 10\nmax_pages = 4\n"})
    failed = await rig.runner.run_once()
    cursor = rig.cursor()
    assert "failed" == failed.status
    assert "limit: sources.demo.rest.paging.max_pages" in (failed.error or ""), failed.error
    assert ([0, 10, 20, 30], True) == (dam.offsets[-4:], dam.listings <= 5), dam.offsets
    assert cursor is not None and cursor_time(29) == cursor.updated_at, cursor
