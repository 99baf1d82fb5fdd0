"""The DAM simulator served by uvicorn on loopback: automatic ticks and dropped downloads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(name="served")
def _served(request: pytest.FixtureRequest) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    options = DamSimOptions(assets=20, tick_interval=request.param, base_url=base)
    config = uvicorn.Config(
        create_dam_app(options), host="127.0.0.1", port=port, log_level="error", date_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.01)
    yield base
    server.should_exit = True
    thread.join(5)


@pytest.mark.parametrize("served", [0.05], indirect=True)
def test_served_dam_ticks_by_itself(served):
    """Served with a tick interval, the DAM mutates on its own and answers over TCP."""
    with httpx.Client(base_url=served) as client:
        for _ in range(100):
            if client.get("/_sim/stats").json()["ticks"] >= 2:
                break
            time.sleep(0.05)
        stats = client.get("/_sim/stats").json()
        response = client.get("/generic/assets", headers={"X-Api-Key": "demo-key"})
    assert stats["ticks"] >= 2
    assert stats["assets"]["total"] > 20
    assert 200 == response.status_code
    assert response.json()["next"] is None or response.json()["next"].startswith(served)


@pytest.mark.parametrize("served", [None], indirect=True)
def test_truncated_download_breaks_the_connection(served):
    """Over TCP, a truncated binary ends the body early and the client raises."""
    with httpx.Client(base_url=served) as client:
        client.put("/_sim/options", json={"fault_rate": 1.0, "rng_seed": 0})
        errors = 0
        for _ in range(30):
            try:
                client.get("/generic/files/a-000001/1", headers={"X-Api-Key": "demo-key"})
            except httpx.RemoteProtocolError:
                errors += 1
        client.put("/_sim/options", json={"fault_rate": 0.0})
    assert errors >= 1
