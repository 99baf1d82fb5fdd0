"""End to end: a real Prometheus scrapes the real daemon while it syncs the simulators."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from daemon.cli.run import run_daemon
from daemon.service.runtime import Runtime
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from tests.engine.conftest import EXAMPLE, ROOT, build_world_settings
from tests.observability.promql import ALERTS, require_binary
from tests.observability.test_prometheus_e2e import (  # noqa: F401 (fixture)
    DEADLINE,
    _prometheus_log,
    free_port,
    until,
)

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


async def test_prometheus_scrapes_the_running_daemon(tmp_path: Path, prometheus_log: IO[bytes]):
    """Prometheus scrapes `damsync run`'s /metrics: our series and the process RSS come back."""
    binary = require_binary("prometheus")
    port = free_port()
    settings = build_world_settings(
        tmp_path, DAMSYNC_SERVER__PORT=str(port), DAMSYNC_RUNTIME__SHUTDOWN_GRACE="2"
    )
    dam = create_dam_app(
        DamSimOptions(assets=60, seed=5, history_days=1, base_url="http://127.0.0.1:8082")
    )
    pim = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    daemon = asyncio.create_task(
        run_daemon(
            EXAMPLE,
            settings,
            migrate=True,
            registry=CollectorRegistry(),
            handle_signals=False,
            pim_transport=httpx.ASGITransport(pim),
            source_transports={"demo": httpx.ASGITransport(dam)},
            runtime_ready=ready,
        )
    )
    runtime = await asyncio.wait_for(ready, 10)
    prom_port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": "damsync", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
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
                client, 'damsync_assets_written_total{job="damsync",source="demo"} > 0', deadline
            )
            rss = await until(client, 'process_resident_memory_bytes{job="damsync"}', deadline)
            requests = await until(
                client, 'damsync_http_requests_total{job="damsync",upstream="pim"}', deadline
            )
        assert float(written[0]["value"][1]) > 0
        assert float(rss[0]["value"][1]) > 1_000_000
        assert {"endpoint", "method", "code"} <= set(requests[0]["metric"])
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        runtime.request_stop()
        assert 0 == await asyncio.wait_for(daemon, 30)
