"""
One client, limiter, token and structure cache per PIM, shared by the sources writing to it.

Two sources writing one PIM share its fair-use budget (4 requests in flight, Akeneo's limit per
connection): counted at the in-process PIM simulator while both passes run. One DAM written into
two PIMs (two simulators): each gets its assets. The ``pim`` labels of the metrics.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.engine.withdrawals import settle_pending
from daemon.mapping import sanitise_code
from daemon.service.wiring import Services, SyncApp
from daemon.settings.root import Settings, load_settings
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions
from tests.folder_rig import pim_assets
from tests.store.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
SEED = ROOT / "config" / "sim" / "pim-seed.json"

#: Akeneo's fair-use limit per connection (reference §7), the example's pim.http.max_in_flight.
BUDGET = 4

#: Each PIM simulator answers after this long, so that requests overlap as they do for real.
LATENCY = 0.01

#: Where the PIM takes media uploads: the requests a pass sends several at once.
MEDIA_FILES = "/api/rest/v1/asset-media-files"

#: How long an upload is held at most waiting for the others (only a broken budget waits it).
HOLD_SECONDS = 30.0

#: A second PIM connection, with the simulator's demo credentials.
SECOND_PIM = """
[pims.{name}]
base_url = "http://{name}.test"
client_id = "demo_client"
secret = "demo_secret"
username = "demo"
password = "demo"
"""


class InFlight:
    """
    An ASGI wrapper counting the requests in flight at a PIM simulator, by the source that sent
    them (the ``source`` its pass bound in the log context, which its child tasks inherit).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.now: Counter[str] = Counter()
        self.peak = 0
        self.both_peak = 0  # the most in flight at a moment when both sources had some
        self.sources: set[str] = set()
        self.hold_until: int | None = None
        self.opened = asyncio.Event()
        self.held_too_long = False

    def hold_uploads(self, until: int) -> None:
        """
        Hold every media upload until ``until`` requests are in flight together: the overlap
        is then made by the test, not left to how the machine schedules the passes. A budget
        that never lets that many through is let go after :data:`HOLD_SECONDS` and marked
        (``held_too_long``).
        """
        self.hold_until = until

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        source = str(structlog.contextvars.get_contextvars().get("source", "?"))
        self.sources.add(source)
        self.now[source] += 1
        total = sum(self.now.values())
        self.peak = max(self.peak, total)
        if sum(1 for count in self.now.values() if count > 0) >= 2:
            self.both_peak = max(self.both_peak, total)
        try:
            if self.hold_until is not None:
                await self._hold(scope, total)
            await self.app(scope, receive, send)
        finally:
            self.now[source] -= 1

    async def _hold(self, scope: Scope, total: int) -> None:
        assert self.hold_until is not None
        if total >= self.hold_until:
            self.opened.set()
        if scope["method"] != "POST" or scope["path"] != MEDIA_FILES:
            return
        try:
            await asyncio.wait_for(self.opened.wait(), HOLD_SECONDS)
        except TimeoutError:
            self.held_too_long = True
            self.opened.set()


def second_source(text: str, *, name: str, pim: str | None, code_prefix: str = "") -> str:
    """The example's source table again as ``name``, writing to ``pim``, codes prefixed."""
    block = text[text.index("\n[[sources]]\n") :]
    block = block.replace('name = "demo"', f'name = "{name}"')
    if pim is not None:
        block = block.replace('kind = "rest"\n', f'kind = "rest"\npim = "{pim}"\n', 1)
    if code_prefix:
        block = block.replace('code = "{id}"', f'code = "{code_prefix}{{id}}"')
        block = block.replace('code = "notice_{id}"', f'code = "{code_prefix}notice_{{id}}"')
    return text + block


def first_source_as(text: str, name: str) -> str:
    """The example's source renamed ``name``, writing to the PIM of that name."""
    old = 'name = "demo"\nkind = "rest"\n'
    return text.replace(old, f'name = "{name}"\nkind = "rest"\npim = "{name}"\n', 1)


def with_pims(text: str, *names: str) -> str:
    head, marker, rest = text.partition("# --- State")
    return head + "".join(SECOND_PIM.format(name=n) for n in names) + marker + rest


def settings_of(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(
        path,
        {
            "DAMSYNC_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}",
            "DAMSYNC_RUNTIME__PID_FILE": str(tmp_path / "damsync.pid"),
        },
    )


@dataclass
class Sims:
    """PIM simulators by name, each behind its counter, and one DAM simulator."""

    dam: ASGIApp
    pims: dict[str, ASGIApp] = field(default_factory=dict)
    counters: dict[str, InFlight] = field(default_factory=dict)

    def add_pim(self, name: str) -> None:
        self.pims[name] = create_pim_app(load_seed(SEED), options=PimSimOptions(latency=LATENCY))
        self.counters[name] = InFlight(self.pims[name])

    async def stats(self, name: str) -> dict[str, Any]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(self.pims[name]), base_url="http://pim"
        ) as client:
            return dict((await client.get("/_sim/stats")).json())

    async def assets(self, name: str, family: str) -> set[str]:
        transport = httpx.ASGITransport(self.pims[name])
        async with httpx.AsyncClient(transport=transport, base_url="http://pim") as client:
            return set(await pim_assets(client, family))


#: The DAM every test reads (60 assets).
DAM_OPTIONS = DamSimOptions(assets=60, seed=7, history_days=2, base_url="http://127.0.0.1:8082")


@pytest.fixture(name="sims")
def _sims() -> Sims:
    return Sims(dam=create_dam_app(DAM_OPTIONS))


@pytest.fixture(name="build")
async def _build(tmp_path: Path, sims: Sims) -> AsyncIterator[Any]:
    built: list[tuple[SyncApp, Services]] = []

    async def build(
        settings: Settings,
        pim_transports: dict[str, str],
        source_clocks: dict[str, Callable[[], float]] | None = None,
    ) -> SyncApp:
        """
        The app, each PIM name routed to the simulator named in ``pim_transports``; sources
        on the monotonic clocks in ``source_clocks`` (a DAM clock the test moves).
        """
        services = Services.create(settings, registry=CollectorRegistry())
        services.store.upgrade()
        app = SyncApp.build(
            settings,
            services,
            pim_transports={
                pim: httpx.ASGITransport(sims.counters[sim]) for pim, sim in pim_transports.items()
            },
            source_transports={
                entry.name: httpx.ASGITransport(sims.dam) for entry in settings.sources
            },
            source_clocks=source_clocks,
        )
        built.append((app, services))
        await app.start()
        return app

    yield build
    for app, services in built:
        await app.aclose()
        services.store.dispose()


async def dam_ids(dam: ASGIApp) -> list[str]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(dam), base_url="http://dam") as c:
        return [str(item["id"]) for item in (await c.get("/_sim/assets")).json()["items"]]


async def run_all(app: SyncApp) -> list[Any]:
    """One pass of every source, all at once."""
    return list(await asyncio.gather(*(runner.run_once() for runner in app.runners)))


async def test_two_sources_on_one_pim_share_its_budget(tmp_path, sims, build):
    """Both sources' requests together never exceed the PIM's 4 in flight while both run."""
    sims.add_pim("one")
    text = second_source(EXAMPLE, name="second", pim=None, code_prefix="b_")
    app = await build(settings_of(tmp_path, text), {"default": "one"})
    assert app.pim_of("demo") is app.pim_of("second")
    assert app.structure_of("demo") is app.structure_of("second")
    assert 1 == len({id(runner.pim) for runner in app.runners})

    results = await run_all(app)

    assert ["succeeded", "succeeded"] == [r.status for r in results], [r.error for r in results]
    assert all(r.written > 0 for r in results)
    counter = sims.counters["one"]
    assert {"demo", "second"} <= counter.sources
    assert counter.both_peak > 0  # the two passes overlapped at the PIM...
    assert counter.peak <= BUDGET  # ...and together kept to its budget
    stats = await sims.stats("one")
    assert stats["max_in_flight"] <= BUDGET
    assert stats["max_in_flight_per_token"] <= BUDGET  # one connection: one token
    assert not any("429" in by_status for by_status in stats["requests"].values())


async def test_two_connections_each_have_their_own_budget(tmp_path, sims, build):
    """
    The counter sees a broken budget: two PIM connections (two tokens) to one simulator are
    two budgets, and together they go past 4 in flight.
    """
    sims.add_pim("one")
    text = with_pims(second_source(EXAMPLE, name="second", pim="other", code_prefix="b_"), "other")
    app = await build(settings_of(tmp_path, text), {"default": "one", "other": "one"})
    assert app.pim_of("demo") is not app.pim_of("second")
    counter = sims.counters["one"]
    counter.hold_uploads(until=BUDGET + 1)  # one budget could never reach it

    results = await run_all(app)

    assert ["succeeded", "succeeded"] == [r.status for r in results], [r.error for r in results]
    assert not counter.held_too_long, f"never more than {counter.peak} in flight"
    assert counter.peak > BUDGET
    assert counter.peak <= 2 * BUDGET


async def test_one_dam_into_two_pims(tmp_path, sims, build):
    """One DAM, two sources, two PIMs: each PIM gets every asset of its source, no other."""
    sims.add_pim("eu")
    sims.add_pim("us")
    text = with_pims(second_source(EXAMPLE, name="us", pim="us", code_prefix="us_"), "eu", "us")
    text = first_source_as(text, "eu")
    # [pim] stays in the file, unused by any source: both sources name their PIM.
    app = await build(settings_of(tmp_path, text), {"default": "eu", "eu": "eu", "us": "us"})
    assert app.pim_of("eu") is not app.pim_of("us")
    assert app.structure_of("eu") is not app.structure_of("us")

    results = await run_all(app)

    assert ["succeeded", "succeeded"] == [r.status for r in results], [r.error for r in results]
    images = [r.written for r in results]
    assert images[0] == images[1] > 0
    eu, us = await sims.assets("eu", "packshots"), await sims.assets("us", "packshots")
    ids = await dam_ids(sims.dam)
    assert {sanitise_code(i) for i in ids} >= eu
    assert {sanitise_code(f"us_{i}") for i in ids} >= us
    assert eu and len(eu) == len(us)
    assert {"eu"} == sims.counters["eu"].sources - {"?"}
    assert {"us"} == sims.counters["us"].sources - {"?"}
    assert sims.counters["eu"].peak <= BUDGET and sims.counters["us"].peak <= BUDGET


async def test_one_dam_into_two_pims_with_the_same_codes(tmp_path, sims, build):
    """The usual regional setup: the same mapping, the same codes, in two PIMs (issue 19)."""
    sims.add_pim("eu")
    sims.add_pim("us")
    text = with_pims(second_source(EXAMPLE, name="us", pim="us"), "eu", "us")
    text = first_source_as(text, "eu")
    app = await build(settings_of(tmp_path, text), {"default": "eu", "eu": "eu", "us": "us"})

    results = await run_all(app)

    assert [0, 0] == [r.failed for r in results]
    assert all(r.written > 0 for r in results)
    eu = await sims.assets("eu", "packshots")
    assert eu and eu == await sims.assets("us", "packshots")
    store = app.services.store
    assert {(a.family, a.code) for a in store.for_pim("eu").owned_assets("eu")} == {
        (a.family, a.code) for a in store.for_pim("us").owned_assets("us")
    }
    assert [] == store.for_pim("us").owned_assets("eu")  # each owns its codes in its PIM only


async def test_two_sources_with_the_same_codes_in_one_pim_are_still_refused(tmp_path, sims, build):
    """Two sources writing the same codes into ONE PIM: the second is refused, naming both."""
    sims.add_pim("one")
    text = second_source(EXAMPLE, name="second", pim=None)
    app = await build(settings_of(tmp_path, text), {"default": "one"})

    first = await app.runners[0].run_once()
    second = await app.runners[1].run_once()

    assert (0, True) == (first.failed, first.written > 0)
    assert 0 == second.written
    assert second.failed > 0
    failures = app.services.store.list_failures(source="second")
    assert failures and {"ownership"} == {f.stage for f in failures}
    assert all("belongs to source 'demo'" in f.detail for f in failures)


#: The example's deletion policy line: a DAM deletion deletes the PIM asset.
POLICY_LINE = (
    'delete_policy = "delete"          # a DAM deletion deletes the PIM asset; or "ignore"\n'
)


def braked(text: str) -> str:
    """Any two deletions of a family held by the brake."""
    assert POLICY_LINE in text
    return text.replace(POLICY_LINE, POLICY_LINE + "max_delete_count = 1\n")


async def delete_at_dam(dam: ASGIApp, ids: list[str]) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(dam), base_url="http://dam") as c:
        for dam_id in ids:
            answer = await c.post("/_sim/mutate", json={"id": dam_id, "deleted": True})
            assert answer.status_code < 300, answer.text


async def test_held_deletions_of_the_same_codes_in_two_pims(tmp_path, sims, build):
    """
    Both regional sources see the DAM's deletions and the brake holds them in each PIM: one
    held deletion per PIM (none lost to the other's), each approved in its own PIM only, and
    never applied to another PIM once its source points elsewhere.
    """
    clock = Clock()  # the DAM's: its deletions are read once past the settle delay
    sims.dam = create_dam_app(DAM_OPTIONS, clock=clock)
    clocks: dict[str, Callable[[], float]] = {
        name: (lambda: clock.now.timestamp()) for name in ("eu", "us")
    }
    sims.add_pim("eu")
    sims.add_pim("us")
    text = with_pims(second_source(braked(EXAMPLE), name="us", pim="us"), "eu", "us")
    text = first_source_as(text, "eu")
    pims = {"default": "eu", "eu": "eu", "us": "us"}
    app = await build(settings_of(tmp_path, text), pims, clocks)
    assert [0, 0] == [r.failed for r in await run_all(app)]
    victims = sorted(await sims.assets("eu", "packshots"))[:2]
    ids = [i for i in await dam_ids(sims.dam) if sanitise_code(i) in victims]
    assert 2 == len(ids)
    await delete_at_dam(sims.dam, ids)
    clock.advance(60)

    assert [0, 0] == [r.deleted for r in await run_all(app)]

    store = app.services.store
    held = {(p.source, p.pim, p.code): p.id for p in store.pending_deletions()}
    assert {(s, s, c) for s in ("eu", "us") for c in victims} == set(held)
    us_ids = [held["us", "us", c] for c in victims]
    assert 2 == await settle_pending(app.runners[1].processor, us_ids, approve=True)
    assert not set(victims) & await sims.assets("us", "packshots")
    assert set(victims) <= await sims.assets("eu", "packshots")
    owned = {(a.code, a.action) for a in store.for_pim("eu").owned_assets("eu")}
    assert {(c, "pending") for c in victims} <= owned

    # The eu source now writes to the us PIM: its deletions held in eu are not applied there.
    old, new = ('name = "eu"\nkind = "rest"\npim = "eu"', 'name = "eu"\nkind = "rest"\npim = "us"')
    moved = await build(settings_of(tmp_path, text.replace(old, new)), pims, clocks)
    eu_ids = [held["eu", "eu", c] for c in victims]
    assert 0 == await settle_pending(moved.runners[0].processor, eu_ids, approve=True)
    assert set(victims) <= await sims.assets("eu", "packshots")
    assert 2 == await settle_pending(moved.runners[0].processor, eu_ids, approve=False)
    assert [] == store.pending_deletions()
    owned = {(a.code, a.action) for a in store.for_pim("eu").owned_assets("eu")}
    assert {(c, "kept") for c in victims} <= owned


async def test_pim_metrics_carry_source_and_pim(tmp_path, sims, build):
    """damsync_source_pim_info maps each source to its PIM; each PIM exports its budget."""
    sims.add_pim("eu")
    sims.add_pim("us")
    text = with_pims(second_source(EXAMPLE, name="us", pim="us", code_prefix="us_"), "us")
    app = await build(settings_of(tmp_path, text), {"default": "eu", "us": "us"})
    registry = app.services.registry

    def value(name: str, **labels: str):
        return registry.get_sample_value(name, labels)

    assert 1.0 == value("damsync_source_pim_info", source="demo", pim="default")
    assert 1.0 == value("damsync_source_pim_info", source="us", pim="us")
    assert value("damsync_source_pim_info", source="us", pim="default") is None
    assert 4.0 == value("damsync_pim_requests_in_flight_limit", pim="default")
    assert 4.0 == value("damsync_pim_requests_in_flight_limit", pim="us")
    assert 0.0 == value("damsync_pim_requests_in_flight", pim="us")

    # While a request to a PIM is in flight, its gauge counts it (read at scrape time).
    seen: list[float | None] = []
    inner = sims.counters["us"].app

    async def watching(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sim/"):
            seen.append(value("damsync_pim_requests_in_flight", pim="us"))
        await inner(scope, receive, send)

    sims.counters["us"].app = watching
    await app.runners[1].run_once()
    assert seen and all(v is not None and 1 <= v <= BUDGET for v in seen)
    assert 0.0 == value("damsync_pim_requests_in_flight", pim="us")
    assert 0.0 == value("damsync_pim_requests_in_flight", pim="default")

    # HTTP metrics tell the PIMs apart: ``[pims.us]`` is upstream ``pim:us``, ``[pim]`` is ``pim``.
    def requests(upstream: str) -> float:
        return sum(
            float(sample.value)
            for metric in registry.collect()
            if metric.name == "damsync_http_requests"
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels.get("upstream") == upstream
        )

    assert requests("pim:us") >= 1  # the token, the structure reads and the bulk PATCH
    assert 0 == requests("pim")  # the default PIM's source did not run


def test_a_reload_moves_a_source_to_another_pim(tmp_path):
    """A source whose PIM changed leaves its old damsync_source_pim_info series."""
    from daemon.telemetry.metrics import make_metrics

    registry = CollectorRegistry()
    metrics = make_metrics(registry)
    metrics.register_pim("default", sources=["demo"], limit=4, in_flight=lambda: 0.0)
    metrics.register_pim("eu", sources=["demo"], limit=2, in_flight=lambda: 1.0)
    assert registry.get_sample_value("damsync_source_pim_info", {"source": "demo", "pim": "eu"})
    assert (
        registry.get_sample_value("damsync_source_pim_info", {"source": "demo", "pim": "default"})
        is None
    )
    assert 1.0 == registry.get_sample_value("damsync_pim_requests_in_flight", {"pim": "eu"})
