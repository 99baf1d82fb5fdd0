"""daemon.service.endpoints: /healthz, /readyz, /metrics and serving in the daemon's loop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry

from daemon.service.endpoints import bind_socket, build_app, serve
from daemon.service.readiness import Check, freshness_check
from daemon.telemetry.metrics import make_metrics

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FixedProbe:
    """A readiness probe answering fixed checks."""

    def __init__(self, *checks: Check) -> None:
        self.result = list(checks)

    async def checks(self) -> Sequence[Check]:
        return self.result


class BrokenProbe:
    """A readiness probe that raises with a credential in its message."""

    async def checks(self) -> Sequence[Check]:
        raise ConnectionError("cannot reach postgresql://app:pw123@db/damsync")


class HangingProbe:
    """A readiness probe that never answers."""

    async def checks(self) -> Sequence[Check]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def client_for(probe, registry: CollectorRegistry | None = None, **kwargs) -> httpx.AsyncClient:
    app = build_app(registry or CollectorRegistry(), probe, **kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d")


async def test_healthz():
    """/healthz answers 200 with status ok while the loop runs."""
    async with client_for(FixedProbe()) as client:
        response = await client.get("/healthz")
    assert 200 == response.status_code
    assert {"status": "ok"} == response.json()


async def test_readyz_ready():
    """/readyz answers 200 when every check passes, listing them."""
    probe = FixedProbe(Check("database", True), Check("schema", True, "at head abc123"))
    async with client_for(probe) as client:
        response = await client.get("/readyz")
    assert 200 == response.status_code
    expected = {
        "status": "ready",
        "failed": [],
        "checks": [
            {"name": "database", "ok": True, "detail": ""},
            {"name": "schema", "ok": True, "detail": "at head abc123"},
        ],
    }
    assert expected == response.json()


async def test_readyz_names_failing_check():
    """/readyz answers 503 naming the failed check and why."""
    probe = FixedProbe(
        Check("database", True),
        Check("schema", False, "database at 0001, code expects 0003"),
        Check("source:bynder", True),
    )
    async with client_for(probe) as client:
        response = await client.get("/readyz")
    body = response.json()
    assert 503 == response.status_code
    assert "unready" == body["status"]
    assert ["schema"] == body["failed"]
    assert "database at 0001, code expects 0003" == body["checks"][1]["detail"]


async def test_readyz_broken_probe_is_unready_and_redacted():
    """A probe that raises makes /readyz 503, not 500, without leaking the credential."""
    async with client_for(BrokenProbe()) as client:
        response = await client.get("/readyz")
    assert 503 == response.status_code
    assert ["probe"] == response.json()["failed"]
    assert "pw123" not in response.text
    assert "ConnectionError" in response.json()["checks"][0]["detail"]


async def test_readyz_hanging_probe_times_out():
    """A probe that never answers makes /readyz 503 after the timeout."""
    async with client_for(HangingProbe(), readiness_timeout=0.05) as client:
        response = await client.get("/readyz")
    assert 503 == response.status_code
    assert "no answer within 0.05s" == response.json()["checks"][0]["detail"]


async def test_readyz_without_checks_is_unready():
    """A probe that reports nothing is a bug, reported as not ready."""
    async with client_for(FixedProbe()) as client:
        response = await client.get("/readyz")
    assert 503 == response.status_code
    assert ["probe"] == response.json()["failed"]


async def test_metrics_text_format():
    """/metrics serves the registry in the Prometheus text format."""
    registry = CollectorRegistry()
    metrics = make_metrics(registry, version="9.9.9", sources=[("bynder", 60.0)])
    metrics.count_assets("bynder", written=4)
    async with client_for(FixedProbe(), registry) as client:
        response = await client.get("/metrics")
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'damsync_assets_written_total{source="bynder"} 4.0' in response.text
    assert 'damsync_build_info{version="9.9.9"} 1.0' in response.text
    assert "process_resident_memory_bytes" in response.text


async def test_metrics_openmetrics_negotiated():
    """A scraper asking for OpenMetrics gets it."""
    registry = CollectorRegistry()
    make_metrics(registry)
    async with client_for(FixedProbe(), registry) as client:
        response = await client.get(
            "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


@pytest.mark.parametrize(
    ("last_success", "ok", "detail"),
    [
        (NOW - timedelta(minutes=5), True, "last success 300s ago, limit 900s"),
        (NOW - timedelta(minutes=15), True, "last success 900s ago, limit 900s"),
        (NOW - timedelta(minutes=16), False, "last success 960s ago, limit 900s"),
        (None, False, "no successful pass recorded"),
    ],
)
def test_freshness_check(last_success, ok, detail):
    """A source is fresh while its last success is within multiple x interval."""
    expected = Check("source:bynder", ok, detail)
    actual = freshness_check(
        "bynder", last_success=last_success, interval=timedelta(minutes=5), multiple=3, now=NOW
    )
    assert expected == actual


async def test_serve_in_loop_until_stopped():
    """serve() answers over TCP in this loop, keeps our signal handlers and stops on the event."""
    before = signal.getsignal(signal.SIGTERM)
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    app = build_app(CollectorRegistry(), FixedProbe(Check("database", True)))
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, stop, on_started=started.set_result))
    port = await asyncio.wait_for(started, 10)
    assert before == signal.getsignal(signal.SIGTERM)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert 200 == (await client.get("/healthz")).status_code
        assert 200 == (await client.get("/readyz")).status_code
    stop.set()
    await asyncio.wait_for(task, 10)
    assert before == signal.getsignal(signal.SIGTERM)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")


async def test_serve_busy_port_raises_oserror():
    """A busy port fails with OSError instead of uvicorn's sys.exit."""
    holder = bind_socket("127.0.0.1", 0)
    try:
        port = holder.getsockname()[1]
        with pytest.raises(OSError):
            await serve(build_app(CollectorRegistry(), FixedProbe()), "127.0.0.1", port,
                        asyncio.Event())  # fmt: skip
    finally:
        holder.close()
