"""
Reliability fixtures: both simulators served by uvicorn on free loopback ports, a config for them.

Every scenario in this folder talks TCP to real servers (never ``ASGITransport``), so drops,
timeouts and truncated bodies behave as they do in production. Tests marked ``heavy`` are
skipped unless the marker expression names them (``pytest -m heavy tests/reliability``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.mapping import sanitise_code
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "damsync.example.toml"
PIM_SEED = ROOT / "config" / "sim" / "pim-seed.json"
DAM_AUTH = {"Authorization": "Bearer demo-token"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``heavy`` tests unless ``-m`` asks for them."""
    if "heavy" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="heavy: run with -m heavy")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    """A port nobody listens on right now (other engineers run tests on this machine too)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Clock:
    """The DAM's clock, moved by the tests (thread-safe enough: one writer)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class StripRetryAfter:
    """ASGI wrapper dropping ``Retry-After`` from every answer: a 429 storm without hints."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def strip(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"retry-after"
                ]
            await send(message)

        await self.app(scope, receive, strip)


class Served:
    """One ASGI app served by uvicorn in a daemon thread on a free port."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="critical", date_header=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Served:
        self.thread.start()
        for _ in range(500):  # bounded: 5 s
            if self.server.started:
                return self
            time.sleep(0.01)
        raise RuntimeError(f"uvicorn did not start on port {self.port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def config_text(pim_url: str, dam_url: str, db_url: str, **extra: str) -> str:
    """
    The example configuration pointed at the served simulators, with fast retries.

    Args:
        pim_url: Base URL of the PIM simulator.
        dam_url: Base URL of the DAM simulator.
        db_url: The state store URL.
        extra: ``"old" = "new"`` text replacements applied last.

    Returns:
        The TOML text.
    """
    text = EXAMPLE.read_text()
    fast = "attempts = 8\ndeadline = 30\nwait_initial = 0.02\nwait_max = 0.1\n"
    replacements = {
        'base_url = "http://127.0.0.1:8081"': f'base_url = "{pim_url}"',
        'base_url = "http://127.0.0.1:8082"': f'base_url = "{dam_url}"',
        'url = "sqlite:///damsync.db"': f'url = "{db_url}"',
        "lease_ttl = 600": "lease_ttl = 1",
        "enabled = true": "enabled = false",
        "attempts = 6\ndeadline = 120\nwait_initial = 0.5\nwait_max = 30\nretry_after_max = 60\n": (
            fast + "retry_after_max = 0.2\nthrottle_pause = 0.05\n"
        ),
        "[sources.http]\nmax_in_flight = 4\n": (
            "[sources.http]\nmax_in_flight = 4\n[sources.http.retry]\n"
            + fast
            + "retry_after_max = 0.2\nthrottle_pause = 0.05\n"
        ),
    }
    for old, new in {**replacements, **extra}.items():
        assert old in text, f"the example config no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Sims:
    """The two served simulators and synchronous helpers to steer and inspect them."""

    dam: Served
    pim: Served
    clock: Clock
    dam_client: httpx.Client = field(init=False)
    pim_client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.dam_client = httpx.Client(base_url=self.dam.url, timeout=30)
        self.pim_client = httpx.Client(base_url=self.pim.url, timeout=30)

    def close(self) -> None:
        self.dam_client.close()
        self.pim_client.close()

    def pim_options(self, **options: Any) -> None:
        answer = self.pim_client.put("/_sim/options", json=options)
        assert 200 == answer.status_code, answer.text

    def dam_options(self, **options: Any) -> None:
        answer = self.dam_client.put("/_sim/options", json=options)
        assert 200 == answer.status_code, answer.text

    def heal(self) -> None:
        """Switch every fault and latency off in both simulators."""
        self.pim_options(fault_rate=0.0, drop_rate=0.0, latency=0.0)
        self.dam_options(fault_rate=0.0, latency=0.0)

    def pim_stats(self) -> dict[str, Any]:
        return dict(self.pim_client.get("/_sim/stats").json())

    def dam_assets(self) -> list[dict[str, Any]]:
        return list(self.dam_client.get("/_sim/assets").json()["items"])

    def tick(self) -> dict[str, Any]:
        self.clock.advance(1)
        answer = dict(self.dam_client.post("/_sim/tick").json())
        self.clock.advance(60)  # past the settle delay
        return answer

    def mutate(self, **change: Any) -> None:
        self.clock.advance(1)
        answer = self.dam_client.post("/_sim/mutate", json=change)
        assert 200 == answer.status_code, answer.text

    def pim_assets(self, family: str) -> dict[str, Any]:
        token = self.pim_client.post(
            "/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        ).json()["access_token"]
        found: dict[str, Any] = {}
        url: str | None = f"/api/rest/v1/asset-families/{family}/assets"
        for _ in range(10_000):  # bounded paging
            if url is None:
                break
            page = self.pim_client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            for item in page["_embedded"]["items"]:
                found[item["code"]] = item
            nxt = page["_links"].get("next")
            url = httpx.URL(nxt["href"]).raw_path.decode() if nxt else None
        return found

    def pim_state(self) -> dict[str, dict[str, Any]]:
        """Every PIM asset of both families, by code."""
        return {**self.pim_assets("packshots"), **self.pim_assets("notices")}


def pim_code(asset: dict[str, Any]) -> str:
    """The PIM code the example mapping gives a DAM asset."""
    raw = asset["id"] if asset["type"] == "image" else f"notice_{asset['id']}"
    return sanitise_code(raw)


def value_of(item: dict[str, Any], attribute: str, locale: str | None = None) -> Any:
    for value in item["values"].get(attribute, []):
        if value.get("locale") == locale:
            return value["data"]
    return None


def mismatch(asset: dict[str, Any], item: dict[str, Any] | None) -> str | None:
    """
    Why the PIM item does not hold the DAM asset's current values, or ``None`` when it does.

    Args:
        asset: A live DAM asset from ``/_sim/assets``.
        item: The PIM asset under its code, or ``None`` if absent.

    Returns:
        A short reason, or ``None``.
    """
    if item is None:
        return "missing in the PIM"
    meta = asset["metadata"]
    if meta.get("sku") != value_of(item, "product_ref"):
        return f"product_ref {value_of(item, 'product_ref')!r} != sku {meta.get('sku')!r}"
    for locale, title in meta["title"].items():
        expected = title.strip() if asset["type"] == "image" else title
        actual = value_of(item, "title", locale)
        if actual is not None and expected != actual:
            return f"title[{locale}] {actual!r} != {expected!r}"
    if not value_of(item, "media"):
        return "no media file"
    return None


def differences(sims: Sims) -> list[str]:
    """Every way the PIM differs from the DAM's current live assets (empty: equal)."""
    pim = sims.pim_state()
    problems: list[str] = []
    live = set()
    for asset in sims.dam_assets():
        code = pim_code(asset)
        if asset["deleted"]:
            continue
        live.add(code)
        reason = mismatch(asset, pim.get(code))
        if reason:
            problems.append(f"{asset['id']}: {reason}")
    problems.extend(f"{code}: in the PIM but not live in the DAM" for code in set(pim) - live)
    return sorted(problems)


@pytest.fixture(name="sims")
def _sims(request: pytest.FixtureRequest) -> Iterator[Sims]:
    """Both simulators on loopback; ``@pytest.mark.parametrize("sims", [{...}])`` sets options."""
    params: dict[str, Any] = getattr(request, "param", {})
    clock = Clock()
    dam_port, pim_port = free_port(), free_port()
    dam_options = DamSimOptions(
        assets=params.get("assets", 120),
        seed=params.get("seed", 7),
        history_days=2,
        base_url=f"http://127.0.0.1:{dam_port}",
    )
    pim_app: ASGIApp = create_pim_app(
        load_seed(PIM_SEED), options=PimSimOptions(**params.get("pim", {}))
    )
    if params.get("strip_retry_after"):
        pim_app = StripRetryAfter(pim_app)
    dam = Served(create_dam_app(dam_options, clock=clock), dam_port)
    pim = Served(pim_app, pim_port)
    sims: Sims | None = None
    try:
        dam.start()
        pim.start()
        sims = Sims(dam, pim, clock)
        yield sims
    finally:
        if sims is not None:
            sims.close()
        pim.stop()
        dam.stop()


@dataclass
class Engine:
    """The wired engine (in this process) pointed at the served simulators over TCP."""

    app: Any
    services: Any
    config: Path

    @property
    def runner(self) -> Any:
        return self.app.runners[0]

    async def pass_until_clean(self, limit: int = 6) -> list[Any]:
        """
        Run passes until one succeeds with no failure, at most ``limit`` (bounded).

        Returns:
            The results of every pass run.
        """
        results = []
        for _ in range(limit):
            result = await self.runner.run_once()
            results.append(result)
            if result.status == "succeeded" and not result.failed:
                break
            if result.failed:
                # Parked transient failures: make them due now and retry them (as the daemon
                # does every retry_interval), then read the window again.
                self.services.store.retry_failure("all", source=self.runner.name)
                await self.runner.retry_due()
        return results


@pytest.fixture(name="engine_factory")
async def _engine_factory(tmp_path: Path) -> Any:
    """Builds engines for a ``Sims`` (optionally another DB URL or config edits); closes them."""
    from prometheus_client import CollectorRegistry

    from daemon.service.wiring import Services, SyncApp
    from daemon.settings.root import load_settings

    built: list[Engine] = []

    async def make(sims: Sims, db_url: str | None = None, **extra: str) -> Engine:
        path = tmp_path / f"damsync-{len(built)}.toml"
        url = db_url or f"sqlite:///{tmp_path / 'state.db'}"
        path.write_text(config_text(sims.pim.url, sims.dam.url, url, **extra))
        settings = load_settings(path, {})
        services = Services.create(settings, registry=CollectorRegistry())
        services.store.upgrade()
        app = SyncApp.build(settings, services)
        await app.start()
        engine = Engine(app, services, path)
        built.append(engine)
        return engine

    yield make
    for engine in built:
        await engine.app.aclose()
        engine.services.store.dispose()
