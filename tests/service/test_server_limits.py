"""
The HTTP server under abuse, on 127.0.0.1: idle connections, half-sent requests, scrape storms.

Nothing here asserts how fast the machine is: counts are bounded by configuration, and a free
event loop is shown by what it does while a render holds its thread (it answers, it releases
the render), not by how long its ticks take.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette

from daemon.service.endpoints import ServerLimits, build_app, serve
from daemon.service.readiness import Check

FD_DIR = Path("/proc/self/fd")


class ReadyProbe:
    """Always ready."""

    async def checks(self) -> Sequence[Check]:
        return [Check("database", True)]


class HeldProbe:
    """Answers only once released: keeps ``/readyz`` requests in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0

    async def checks(self) -> Sequence[Check]:
        self.waiting += 1
        await self.release.wait()
        return [Check("database", True)]


class SlowCollector(Collector):
    """A collector that blocks its thread for ``seconds`` per collection (a costly render)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def collect(self) -> Iterable[GaugeMetricFamily]:
        self.calls += 1
        time.sleep(self.seconds)
        yield GaugeMetricFamily("slow_collected", "A costly series.", value=float(self.calls))


class HeldCollector(Collector):
    """
    A render that holds its thread until the test lets it go (``release``), from the event
    loop: a render run on the loop itself could never be let go, and ends only at
    :data:`HOLD_SECONDS`, counted in ``held_too_long``.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.held_too_long = 0

    def collect(self) -> Iterable[GaugeMetricFamily]:
        self.calls += 1
        self.entered.set()
        if not self.release.wait(HOLD_SECONDS):
            self.held_too_long += 1
        yield GaugeMetricFamily("held_collected", "A held series.", value=float(self.calls))


#: How long a held render waits for its release at most (only a blocked loop waits it out).
HOLD_SECONDS = 30.0


def fd_count() -> int:
    return len(os.listdir(FD_DIR))


@contextlib.asynccontextmanager
async def running(app: Starlette, limits: ServerLimits | None = None) -> AsyncIterator[int]:
    """``serve(app)`` on a free loopback port in this loop; yields the port, stops it after."""
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(app, "127.0.0.1", 0, stop, on_started=started.set_result, limits=limits)
    )
    try:
        yield await asyncio.wait_for(started, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def raw_get(port: int, path: str) -> bytes:
    """One HTTP/1.1 GET on a new connection; the whole answer, or ``b""`` if closed unanswered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await reader.read()
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


async def wait_until(predicate, timeout: float) -> bool:
    """Poll ``predicate`` every 10 ms for at most ``timeout`` seconds; its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() >= deadline:
            return bool(predicate())
        await asyncio.sleep(0.01)
    return True


@pytest.mark.skipif(not FD_DIR.is_dir(), reason="needs /proc/self/fd")
async def test_idle_connections_are_bounded_and_healthz_answers():
    """200 idle connections leave the server at most max_connections fds, and /healthz answers."""
    idle_count, max_connections = 200, ServerLimits().max_connections
    async with running(build_app(CollectorRegistry(), ReadyProbe())) as port:
        baseline = fd_count()
        idle = []
        try:
            for _ in range(idle_count):
                idle.append((await asyncio.open_connection("127.0.0.1", port))[1])
            answer = await asyncio.wait_for(raw_get(port, "/healthz"), 10)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            # Our 200 client sockets stay open; the server keeps at most max_connections.
            bound = baseline + idle_count + max_connections + 4
            bounded = await wait_until(lambda: fd_count() <= bound, 5)
            assert bounded, f"{fd_count() - baseline} fds above baseline, bound {bound - baseline}"
        finally:
            for writer in idle:
                writer.close()


async def test_half_sent_request_is_closed_after_the_header_timeout():
    """A connection that never completes its request head is closed after header_timeout."""
    limits = ServerLimits(header_timeout=0.2)
    async with running(build_app(CollectorRegistry(), ReadyProbe()), limits) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: d\r\n")  # no blank line: incomplete
            await writer.drain()
            assert b"" == await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()


async def test_busy_connections_are_kept_and_new_ones_refused_at_the_cap():
    """With every connection busy, a new one is closed at once; the busy ones still answer."""
    probe = HeldProbe()
    app = build_app(CollectorRegistry(), probe, readiness_timeout=30)
    async with running(app, ServerLimits(max_connections=2, header_timeout=1.0)) as port:
        busy = [asyncio.create_task(raw_get(port, "/readyz")) for _ in range(2)]
        assert await wait_until(lambda: probe.waiting == 2, 10)
        assert b"" == await asyncio.wait_for(raw_get(port, "/healthz"), 10)
        await asyncio.sleep(1.5)  # past header_timeout: a request in flight is not idle
        probe.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*busy), 10)
        assert [True, True] == [a.startswith(b"HTTP/1.1 200") for a in answers]
        answer = await asyncio.wait_for(raw_get(port, "/healthz"), 10)
        assert answer.startswith(b"HTTP/1.1 200"), answer


async def test_concurrent_scrapes_do_not_block_the_event_loop():
    """A storm of /metrics scrapes leaves the loop free: it answers /healthz while they render."""
    scrapes = 20
    collector = HeldCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    async with running(build_app(registry, ReadyProbe())) as port:
        limits = httpx.Limits(max_connections=scrapes + 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            storm = asyncio.gather(*(client.get("/metrics") for _ in range(scrapes)))
            try:
                assert await wait_until(collector.entered.is_set, 30), "no render started"
                # The render holds its thread now: only a free loop answers this.
                health = await asyncio.wait_for(client.get("/healthz"), 30)
            finally:
                collector.release.set()
            answers = await asyncio.wait_for(storm, 60)
    assert 200 == health.status_code
    assert [200] * scrapes == [a.status_code for a in answers]
    assert 0 == collector.held_too_long, "a render blocked the event loop"


async def test_concurrent_scrapes_share_one_render():
    """Scrapes within metrics_cache seconds share one collection of the registry."""
    collector = SlowCollector(0.05)
    registry = CollectorRegistry()
    registry.register(collector)
    app = build_app(registry, ReadyProbe(), metrics_cache=60.0)
    async with running(app) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answers = await asyncio.gather(*(client.get("/metrics") for _ in range(10)))
            later = await client.get("/metrics")
    assert [200] * 10 == [a.status_code for a in answers]
    assert "slow_collected 1.0" in later.text
    assert 1 == collector.calls


async def test_uncached_scrapes_see_fresh_values():
    """With metrics_cache = 0, a scrape after a finished one collects again."""
    collector = SlowCollector(0.0)
    registry = CollectorRegistry()
    registry.register(collector)
    async with running(build_app(registry, ReadyProbe(), metrics_cache=0.0)) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            first = await client.get("/metrics")
            second = await client.get("/metrics")
    assert "slow_collected 1.0" in first.text
    assert "slow_collected 2.0" in second.text
