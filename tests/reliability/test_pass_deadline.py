"""
A pass that reaches ``sync.pass_deadline`` stops like a graceful stop, fails, and is resumed.

Both simulators run in-process (``httpx.ASGITransport``): the DAM is slow (``DamSimOptions``
latency) or its listing hangs after a few pages. Nothing here asserts how far a pass got in
the time it had: the assertions hold wherever the deadline falls (the cursor is the last
committed batch, nothing behind it is missing, nothing written is uncommitted).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import EXAMPLE, ROOT, Clock

#: The assets of the simulated DAM: 12 listing pages of 10 at the least.
ASSETS = 120


class HangingListing:
    """Passes requests to the DAM; once ``hang_after`` listings were answered, later ones hang."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hang_after: int | None = None
        self.listings = 0
        self.hung = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listing = scope["type"] == "http" and scope["path"] == "/generic/assets"
        if listing and b"ids=" not in scope.get("query_string", b""):
            self.listings += 1
            if self.hang_after is not None and self.listings > self.hang_after:
                self.hung += 1
                await asyncio.Event().wait()  # never set: only the pass deadline ends it
        await self.app(scope, receive, send)


@dataclass
class Rig:
    app: SyncApp
    services: Services
    dam: httpx.AsyncClient
    pim: httpx.AsyncClient
    gate: HangingListing
    sim: Any

    @property
    def runner(self) -> Any:
        return self.app.runners[0]

    def cursor(self) -> Any:
        checkpoint = self.services.store.load_checkpoint("demo")
        return None if checkpoint is None else checkpoint.cursor

    async def dam_assets(self) -> list[dict[str, Any]]:
        items = (await self.dam.get("/_sim/assets")).json()["items"]
        return [a for a in items if not a["deleted"]]

    async def pim_codes(self) -> set[str]:
        token = await self.pim.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        codes: set[str] = set()
        for family in ("packshots", "notices"):
            url: str | None = f"/api/rest/v1/asset-families/{family}/assets"
            for _ in range(1000):  # bounded paging
                if url is None:
                    break
                page = (await self.pim.get(url, headers=headers)).json()
                codes.update(item["code"] for item in page["_embedded"]["items"])
                nxt = page["_links"].get("next")
                url = httpx.URL(nxt["href"]).raw_path.decode() if nxt else None
        return codes


def pim_code(asset: dict[str, Any]) -> str:
    """The PIM code the example mapping gives a DAM asset."""
    raw = asset["id"] if asset["type"] == "image" else f"notice_{asset['id']}"
    return sanitise_code(raw)


def config(tmp_path: Path, deadline: float | None) -> Path:
    """Pages and batches of 10, two batches in flight, ``pass_deadline`` when given."""
    text = EXAMPLE.read_text()
    depth = "pipeline_depth = 2\n"
    if deadline is not None:
        depth += f"pass_deadline = {deadline}\n"
    edits = {
        "page_size = 100\n": "page_size = 10\n",
        "batch_size = 100 ": "batch_size = 10 ",
        "pipeline_depth = 4 ": depth + "# ",
    }
    for old, new in edits.items():
        assert old in text, f"the example config no longer contains {old!r}"
        text = text.replace(old, new)
    path = tmp_path / f"damsync-{deadline}.toml"
    path.write_text(text)
    return path


@pytest.fixture(name="rig_factory")
async def _rig_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Builds engines on one DAM, one PIM and one store; ``latency`` slows every DAM call."""
    clock = Clock()
    built: list[Rig] = []
    shared: dict[str, Any] = {}

    async def make(*, deadline: float | None, latency: float = 0.0) -> Rig:
        if not shared:
            options = DamSimOptions(
                assets=ASSETS, seed=7, history_days=2, base_url="http://127.0.0.1:8082"
            )
            dam_app = create_dam_app(options, clock=clock)
            shared.update(
                dam_app=dam_app,
                gate=HangingListing(dam_app),
                pim_app=create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json")),
            )
        sim = shared["dam_app"].state.dam
        sim.set_runtime(latency=latency, fault_rate=None, rng_seed=None)
        environ = {
            "DAMSYNC_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}",
            "DAMSYNC_PIM__HTTP__RETRY__ATTEMPTS": "3",
            "DAMSYNC_PIM__HTTP__RETRY__WAIT_INITIAL": "0.01",
            "DAMSYNC_PIM__HTTP__RETRY__WAIT_MAX": "0.05",
        }
        settings = load_settings(config(tmp_path, deadline), environ)
        services = Services.create(settings, registry=CollectorRegistry())
        services.store.upgrade()
        app = SyncApp.build(
            settings,
            services,
            pim_transport=httpx.ASGITransport(shared["pim_app"]),
            source_transports={"demo": httpx.ASGITransport(shared["gate"])},
            source_clocks={"demo": lambda: clock.now.timestamp()},
        )
        await app.start()
        rig = Rig(
            app,
            services,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(shared["dam_app"]), base_url="http://d"
            ),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(shared["pim_app"]), base_url="http://p"
            ),
            shared["gate"],
            sim,
        )
        built.append(rig)
        return rig

    yield make
    for rig in built:
        await rig.dam.aclose()
        await rig.pim.aclose()
        await rig.app.aclose()
        rig.services.store.dispose()


async def assert_stopped_cleanly(rig: Rig, result: Any, deadline: float) -> None:
    """Failed naming the key; the cursor is the last commit; nothing lost or uncommitted."""
    expected_error = f"pass deadline of {deadline:g} s reached (sync.pass_deadline)"
    assert ("failed", expected_error) == (result.status, result.error)
    cursor = rig.cursor()
    assert result.cursor == cursor
    runs = rig.services.store.last_runs("demo", 1)
    assert ("failed", expected_error) == (runs[0].status, runs[0].error)
    live = await rig.dam_assets()
    in_pim = await rig.pim_codes()
    # Nothing lost: every asset up to the stored cursor is in the PIM.
    behind = [
        a["id"]
        for a in live
        if cursor is not None and (a["updated_at"], a["id"]) <= cursor_key(cursor)
        if pim_code(a) not in in_pim
    ]
    assert [] == behind
    # Batches in flight were committed: every asset the PIM holds has its committed state.
    states = rig.services.store.asset_states("demo", [a["id"] for a in live])
    uncommitted = [
        a["id"]
        for a in live
        if pim_code(a) in in_pim and (a["id"] not in states or not states[a["id"]].content_hash)
    ]
    assert [] == uncommitted


def cursor_key(cursor: Any) -> tuple[str, str]:
    """A stored cursor in the DAM simulator's ``(updated_at, id)`` text form."""
    return (cursor.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), cursor.id)


async def test_a_slow_dam_ends_the_pass_at_its_deadline_and_the_next_pass_resumes(rig_factory):
    """A DAM slower than the deadline allows: failed, cursor committed, the next pass finishes."""
    slow = await rig_factory(deadline=0.3, latency=0.05)
    result = await slow.runner.run_once()
    # 12 listing pages at 50 ms each cannot be read in 0.3 s, however fast the machine.
    await assert_stopped_cleanly(slow, result, 0.3)
    stopped_at = slow.cursor()
    healed = await rig_factory(deadline=None, latency=0.0)
    resumed = await healed.runner.run_once()
    live = await healed.dam_assets()
    assert ("succeeded", 0) == (resumed.status, resumed.failed), resumed.error
    assert {pim_code(a) for a in live} == await healed.pim_codes()
    if stopped_at is not None:
        assert resumed.window is not None and resumed.window.since is not None
        assert stopped_at.updated_at >= resumed.window.since


async def test_a_hanging_listing_is_cut_at_the_deadline_after_committing_what_was_read(
    rig_factory,
):
    """A listing that hangs after four pages: the pass stops there with those pages committed."""
    rig = await rig_factory(deadline=2.0)
    rig.gate.hang_after = 4
    result = await rig.runner.run_once()
    await assert_stopped_cleanly(rig, result, 2.0)
    cursor = rig.cursor()
    live = sorted(await rig.dam_assets(), key=lambda a: (a["updated_at"], a["id"]))
    # Four pages of ten were read; the cursor moved into them and not past them.
    assert cursor is not None
    assert (1, True) == (
        rig.gate.hung,
        cursor_key(cursor) <= (live[39]["updated_at"], live[39]["id"]),
    )
    rig.gate.hang_after = None
    resumed = await rig.runner.run_once()
    assert ("succeeded", 0) == (resumed.status, resumed.failed), resumed.error
    assert {pim_code(a) for a in live} == await rig.pim_codes()
    assert resumed.read < len(live), "the next pass re-read the whole DAM instead of resuming"
