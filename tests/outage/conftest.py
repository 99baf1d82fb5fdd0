"""
Outage fixtures: the state store behind a test-controlled TCP proxy, the daemon for real.

Reused, not copied: the served simulators and PIM/DAM comparison helpers come from
``tests/reliability/conftest.py``, the ``damsync run`` subprocess harness and config writer from
``tests/runtime/conftest.py``, and the per-session ``damsync_t_<random>`` PostgreSQL databases
from ``tests/store/conftest.py`` (skipped locally without ``DAMSYNC_TEST_DATABASE_URL``, a
failure under ``CI=true``). The shared PostgreSQL server is never stopped: only the proxy in
front of it is cut.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import Store
from daemon.store.database import upgrade
from tests.outage.proxy import TcpProxy
from tests.reliability.conftest import PIM_SEED, Clock, Served, Sims, _sims, mismatch, pim_code
from tests.runtime.conftest import Daemon, _start_daemon, free_port, write_config
from tests.store.conftest import _pg_databases

__all__ = ["_pg_databases", "_sims", "_start_daemon"]  # fixtures registered by import

#: Seconds between scheduled passes of the daemons started here.
INTERVAL = 2


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """
    Poll ``predicate`` until it returns something truthy; fail naming ``what``.

    Args:
        predicate: Called every ``step`` seconds; HTTP errors count as "not yet".
        timeout: Seconds before the test fails.
        what: What is awaited, for the failure message.
        step: Seconds between polls.

    Returns:
        The first truthy value.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError as exc:  # a slow answer is one more poll, not the verdict
            value, last = None, exc
        else:
            last = value
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def readyz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    """``/readyz`` of a running daemon: status code and JSON body."""
    answer = daemon.get("/readyz")
    return answer.status_code, dict(answer.json())


def wait_readyz(daemon: Daemon, status: int, timeout: float) -> dict[str, Any]:
    """
    Poll ``/readyz`` until it answers ``status``; the failure names the last answer seen.

    Returns:
        The JSON body of the first answer with ``status``.
    """
    last: tuple[int, dict[str, Any]] | None = None

    def poll() -> bool:
        nonlocal last
        last = readyz(daemon)
        return status == last[0]

    try:
        wait_until(poll, timeout, f"/readyz {status}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answer {last}; log: {daemon.output()}") from None
    assert last is not None
    return last[1]


def healthz_status(daemon: Daemon) -> int:
    """The status code of ``/healthz`` (0 when it does not answer at all)."""
    try:
        return daemon.get("/healthz").status_code
    except httpx.HTTPError:
        return 0


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def checkpoint_violations(sims: Sims, store: Store, source: str = "demo") -> list[str]:
    """
    DAM assets at or before the stored cursor that are neither current in the PIM nor failed.

    Args:
        sims: The served simulators.
        store: A store reading the daemon's database directly (not through the proxy).
        source: The source name.

    Returns:
        One line per violation (empty: the promise holds).
    """
    checkpoint = store.load_checkpoint(source)
    if checkpoint is None or checkpoint.cursor is None:
        return []
    cursor = (checkpoint.cursor.updated_at, checkpoint.cursor.id)
    failed = {f.dam_id for f in store.list_failures(source)}
    pim = sims.pim_state()
    problems = []
    for asset in sims.dam_assets():
        if (parse_time(asset["updated_at"]), asset["id"]) > cursor or asset["id"] in failed:
            continue
        item = pim.get(pim_code(asset))
        if asset["deleted"]:
            if item is not None:
                problems.append(f"{asset['id']}: deleted in the DAM, still in the PIM")
        elif (reason := mismatch(asset, item)) is not None:
            problems.append(f"{asset['id']}: {reason} (cursor {cursor})")
    return problems


@pytest.fixture(name="pg_proxy")
def _pg_proxy(pg_databases: Callable[[], str]) -> Iterator[tuple[str, str, TcpProxy]]:
    """
    A fresh PostgreSQL database at head, and a proxy in front of its server.

    Yields:
        ``(direct_url, proxied_url, proxy)``: the test reads through ``direct_url``; the daemon
        connects through ``proxied_url`` only.
    """
    direct = pg_databases()
    upgrade(direct)
    url = make_url(direct)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        yield direct, proxied, proxy
    finally:
        proxy.close()


#: What makes a pass strictly sequential: one batch in flight, one media transfer at a time.
#: After a lock is taken, its next store write is then the only one, and fails once.
SEQUENTIAL = {
    "media_concurrency = 8 ": "media_concurrency = 1 ",
    "pipeline_depth = 4 ": "pipeline_depth = 1 ",
}


def daemon_config(
    tmp_path: Path,
    sims: Sims,
    store_url: str,
    port: int,
    replace: Mapping[str, str] | None = None,
) -> Path:
    """
    The example configuration for a ``damsync run`` against ``sims`` and ``store_url``.

    Debug logs carry ``store.batch_committed``, which the tests use to cut the database
    between two batches of one pass.

    Args:
        replace: ``old -> new`` text replacements, each of which must apply.

    Returns:
        The path of the written TOML file.
    """
    path = write_config(
        tmp_path / "damsync.toml",
        sims,  # type: ignore[arg-type]  # the reliability Sims has the same pim/dam .url
        store_url=store_url,
        server_port=port,
        interval=INTERVAL,
        batch_size=50,
    )
    text = path.read_text(encoding="utf-8").replace('log_level = "info"', 'log_level = "debug"')
    for old, new in (replace or {}).items():
        assert old in text, f"the example config no longer contains {old!r}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def start(
    start_daemon: Callable[..., Daemon],
    tmp_path: Path,
    sims: Sims,
    store_url: str,
    replace: Mapping[str, str] | None = None,
) -> Daemon:
    """
    Start ``damsync run`` on a free port and wait until ``/healthz`` answers.

    Args:
        replace: ``old -> new`` replacements in its configuration.

    Returns:
        The running daemon (killed by the ``start_daemon`` fixture at teardown).
    """
    port = free_port()
    config = daemon_config(tmp_path, sims, store_url, port, replace)
    daemon: Daemon = start_daemon(config, port)
    wait_until(lambda: 200 == healthz_status(daemon), 20, "/healthz of the daemon")
    return daemon


class PageGate:
    """
    ASGI wrapper of the DAM that parks every request for a follow-up page while it is closed.

    A pass reads its pages one after the other, so a closed gate stops it right before its
    second page: a point the test knows, with the first page's batches written. Requests for a
    first page, binaries and the simulator's ``/_sim`` routes always pass.

    Args:
        app: The DAM simulator.
        path: The listing route.
        param: The query parameter that only a follow-up page request carries.
    """

    #: Seconds a parked request waits at most: a forgotten gate must not hang the run.
    MAX_PARK = 120.0

    def __init__(self, app: ASGIApp, path: str = "/generic/assets", param: str = "cursor") -> None:
        self.app = app
        self.path = path
        self.param = param
        self.opened = threading.Event()
        self.opened.set()
        self.parked = threading.Event()

    def close(self) -> None:
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.opened.is_set() and self._follow_up(scope):
            self.parked.set()
            await asyncio.to_thread(self.opened.wait, self.MAX_PARK)
        await self.app(scope, receive, send)

    def _follow_up(self, scope: Scope) -> bool:
        query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        return bool(scope["path"] == self.path and query.get(self.param))


@pytest.fixture(name="gated_sims")
def _gated_sims() -> Iterator[tuple[Sims, PageGate]]:
    """Both simulators on loopback (200 DAM assets), the DAM behind an open :class:`PageGate`."""
    clock = Clock()
    dam_port, pim_port = free_port(), free_port()
    dam_options = DamSimOptions(
        assets=200, seed=7, history_days=2, base_url=f"http://127.0.0.1:{dam_port}"
    )
    gate = PageGate(create_dam_app(dam_options, clock=clock))
    dam = Served(gate, dam_port)
    pim = Served(create_pim_app(load_seed(PIM_SEED)), pim_port)
    sims: Sims | None = None
    try:
        dam.start()
        pim.start()
        sims = Sims(dam, pim, clock)
        yield sims, gate
    finally:
        gate.open()  # a parked request returns before its server stops
        if sims is not None:
            sims.close()
        pim.stop()
        dam.stop()
