"""End to end: a real Prometheus scrapes build_app(...) served by uvicorn in this event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from daemon.service.endpoints import build_app, serve
from daemon.service.readiness import Check
from daemon.telemetry.metrics import make_metrics
from tests.observability.promql import ALERTS, require_binary

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

DEADLINE = 60.0  # seconds for Prometheus to start and scrape twice; it normally takes ~3 s


class ReadyProbe:
    async def checks(self) -> Sequence[Check]:
        return [Check("database", True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def query(client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/query", params={"query": expr})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


async def until(client: httpx.AsyncClient, expr: str, deadline: float) -> list[dict[str, Any]]:
    """Poll ``expr`` until it returns a series or the deadline passes."""
    while True:
        # Prometheus answers 503 until its storage is ready.
        with contextlib.suppress(httpx.TransportError, httpx.HTTPStatusError):
            if result := await query(client, expr):
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never returned {expr!r}")
        await asyncio.sleep(0.25)


@pytest.fixture(name="prometheus_log")
def _prometheus_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    """Prometheus logs to a file: a pipe nobody reads would block it once full."""
    path = tmp_path / "prometheus.log"
    with path.open("wb") as handle:
        yield handle
    print(path.read_text(encoding="utf-8", errors="replace")[-4000:])  # shown on failure


async def test_prometheus_scrapes_daemon_metrics(tmp_path: Path, prometheus_log: IO[bytes]):
    """Prometheus scrapes our endpoint, loads our alert rules, and serves our series back."""
    binary = require_binary("prometheus")
    registry = CollectorRegistry()
    metrics = make_metrics(registry, version="e2e", sources=[("bynder", 60.0)])
    metrics.count_assets("bynder", written=7)
    metrics.pass_finished("bynder", ok=True, duration=1.0, finished_at=datetime.now(UTC))

    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(
            build_app(registry, ReadyProbe()), "127.0.0.1", 0, stop, on_started=started.set_result
        )
    )
    app_port = await asyncio.wait_for(started, 10)
    prom_port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": "damsync", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=prometheus_log,
    )
    try:
        deadline = time.monotonic() + DEADLINE
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}") as client:
            written = await until(
                client, 'damsync_assets_written_total{job="damsync",source="bynder"}', deadline
            )
            rss = await until(client, 'process_resident_memory_bytes{job="damsync"}', deadline)
            up = await until(client, 'up{job="damsync"} == 1', deadline)
            rules = (await client.get("/api/v1/rules")).json()["data"]["groups"]
        assert "7" == written[0]["value"][1]
        assert float(rss[0]["value"][1]) > 0
        assert f"127.0.0.1:{app_port}" == up[0]["metric"]["instance"]
        loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
        expected_rules = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"]
                          for r in g["rules"]}  # fmt: skip
        assert expected_rules == set(loaded)
        assert {"ok", "unknown"} >= set(loaded.values())
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        stop.set()
        await asyncio.wait_for(server, 10)
