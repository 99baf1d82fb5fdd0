"""
The daemon for real: simulators served on loopback, configs on disk, `damsync` subprocesses.

Every wait is bounded; every port is picked free; every process started here is stopped here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "damsync.example.toml"
SEED = ROOT / "config" / "sim" / "pim-seed.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Served:
    """An ASGI app served by uvicorn in a thread on a free loopback port."""

    def __init__(
        self, build: Callable[[str], Any], *, lifespan: Literal["on", "off"] = "off"
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = build(self.url)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            log_config=None,
            lifespan=lifespan,
            date_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 10, f"a simulator on {self.url}")

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Sims:
    pim: Served
    dam: Served

    def dam_options(self, **options: Any) -> None:
        httpx.put(f"{self.dam.url}/_sim/options", json=options).raise_for_status()

    def dam_assets(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.dam.url}/_sim/assets").json()["items"])

    def pim_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.pim.url}/_sim/stats").json())

    def pim_codes(self, family: str) -> set[str]:
        token = httpx.post(
            f"{self.pim.url}/api/oauth/v1/token",
            json={"grant_type": "password", "username": "demo", "password": "demo"},
            auth=("demo_client", "demo_secret"),
        ).json()["access_token"]
        codes: set[str] = set()
        url: str | None = f"{self.pim.url}/api/rest/v1/asset-families/{family}/assets"
        for _ in range(1000):
            if url is None:
                break
            page = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            codes |= {item["code"] for item in page["_embedded"]["items"]}
            nxt = page["_links"].get("next")
            url = nxt["href"] if nxt else None
        return codes


@pytest.fixture(name="sims_factory")
def _sims_factory() -> Iterator[Callable[..., Sims]]:
    built: list[Served] = []

    def make(assets: int = 60, latency: float = 0.0) -> Sims:
        pim = Served(
            lambda url: create_pim_app(load_seed(SEED), options=PimSimOptions(base_url=url))
        )
        built.append(pim)
        dam = Served(
            lambda url: create_dam_app(
                DamSimOptions(assets=assets, latency=latency, history_days=2, base_url=url)
            )
        )
        built.append(dam)
        return Sims(pim, dam)

    yield make
    for served in built:
        served.close()


@pytest.fixture(name="sims")
def _sims(sims_factory: Callable[..., Sims]) -> Sims:
    return sims_factory()


def write_config(
    path: Path,
    sims: Sims,
    *,
    store_url: str,
    server_port: int = 0,
    interval: float = 30,
    grace: float = 8,
    batch_size: int = 100,
    settle_delay: float = 0,
    retry_interval: float = 60,
    pid_file: Path | None = None,
) -> Path:
    """The example configuration pointed at ``sims``, a store and a port, with JSON logs."""
    text = EXAMPLE.read_text(encoding="utf-8")
    replacements = {
        r'"http://127\.0\.0\.1:8081"': f'"{sims.pim.url}"',
        r'"http://127\.0\.0\.1:8082"': f'"{sims.dam.url}"',
        r'(?m)^url = "sqlite:///damsync\.db"': f'url = "{store_url}"',
        r"(?m)^port = 9180\b": f"port = {server_port}",
        r"(?m)^interval = 10\b": f"interval = {interval:g}",
        r"(?m)^jitter = 1\b": "jitter = 0",
        r"(?m)^shutdown_grace = 8\b": f"shutdown_grace = {grace:g}",
        r"(?m)^retry_interval = 60\b": f"retry_interval = {retry_interval:g}",
        r"(?m)^settle_delay = 2\b": f"settle_delay = {settle_delay:g}",
        r"(?m)^batch_size = 100\b": f"batch_size = {batch_size}",
        r'(?m)^log_format = "auto"': 'log_format = "json"',
        r'(?m)^pid_file = "damsync\.pid"': f'pid_file = "{pid_file or path.with_suffix(".pid")}"',
    }
    for pattern, value in replacements.items():
        text, count = re.subn(pattern, value, text, count=1)
        assert 1 == count, pattern
    path.write_text(text, encoding="utf-8")
    return path


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def migrate(store_url: str) -> None:
    """`damsync db upgrade` as its own step, as operators run it."""
    cli(["db", "upgrade", "--database-url", store_url], timeout=60).check_returncode()


def cli(args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=dict(os.environ),
    )


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the SQLite state database the daemon writes (a short read-only connection)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return list(conn.execute(sql, params).fetchall())


@dataclass
class Daemon:
    """A `damsync run` subprocess with its JSON log lines."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    found.append(json.loads(raw))
                except ValueError:
                    continue
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def wait_event(self, name: str, timeout: float = 20, count: int = 1) -> list[dict[str, Any]]:
        def seen() -> list[dict[str, Any]] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}: {self.output()}")
            found = self.events(name)
            return found if len(found) >= count else None

        result: list[dict[str, Any]] = wait_for(seen, timeout, f"{count} x {name}")
        return result

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10)

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(name="start_daemon")
def _start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, port: int, *extra: str) -> Daemon:
        log_path = tmp_path / f"daemon-{len(started)}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "daemon", "run", "--config", str(config), *extra],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=dict(os.environ),
            )
        daemon = Daemon(process, log_path, port)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()
