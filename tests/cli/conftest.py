"""
Both simulators served on loopback and a config file pointing at them.

Each simulator's listening socket is bound (port 0) before its app is built and handed to
uvicorn as it is: a port chosen by binding and closing a socket could be taken by another
process before uvicorn bound it again.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import Store

ROOT = Path(__file__).resolve().parents[2]


def bound_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to a loopback port (0: a free one), kept until its server stops."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    return sock


def free_port() -> int:
    """
    A port that was free a moment ago.

    Racy (another process may take it before it is bound again): prefer :func:`bound_socket`.
    """
    with bound_socket() as sock:
        return int(sock.getsockname()[1])


class Served:
    """An ASGI app served by uvicorn in a thread on an already-bound socket, stopped at the end."""

    def __init__(self, app: Any, sock: socket.socket | int | None = None) -> None:
        self.sock = sock if isinstance(sock, socket.socket) else bound_socket(sock or 0)
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(app, log_config=None, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "simulator did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Env:
    config: Path
    db_url: str
    pim: str
    dam: str

    def dam_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.dam)


@pytest.fixture(name="env")
def _env(tmp_path: Path) -> Iterator[Env]:
    # The DAM's app names its own URL, so its socket is bound before the app is built.
    dam_socket = bound_socket()
    dam_url = f"http://127.0.0.1:{dam_socket.getsockname()[1]}"
    dam = create_dam_app(DamSimOptions(assets=120, seed=3, history_days=2, base_url=dam_url))
    pim = create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json"))
    with Served(pim) as pim_server, Served(dam, dam_socket):
        db_url = f"sqlite:///{tmp_path / 'state.db'}"
        text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
        text = text.replace("http://127.0.0.1:8081", pim_server.url)
        text = text.replace("http://127.0.0.1:8082", dam_url)
        text = text.replace('url = "sqlite:///damsync.db"', f'url = "{db_url}"')
        text = text.replace("settle_delay = 2 ", "settle_delay = 0 ")
        config = tmp_path / "damsync.toml"
        config.write_text(text, encoding="utf-8")
        store = Store.from_url(db_url)
        store.upgrade()
        store.dispose()
        yield Env(config, db_url, pim_server.url, dam_url)
