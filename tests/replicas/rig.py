"""
Several ``damsync run`` processes on one PostgreSQL database, against simulators on loopback.

Every server binds its socket to port 0 first and is handed the bound socket (never a port
picked free and bound later). The PIM simulator listens on one socket per replica, so that the
PIM's request log tells which replica sent each write; a gate can park one replica's writes.
The daemons are the ``damsync run`` subprocesses of :mod:`tests.runtime.conftest`, with their
JSON log lines; their HTTP port is 0 too, read back from their ``server.started`` line.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.mapping import sanitise_code
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.sim.pim.options import PimSimOptions
from daemon.store import Store
from daemon.store.tables import leases
from tests.reliability.conftest import mismatch
from tests.runtime.conftest import SEED, Daemon, wait_for, write_config

#: Where the daemons' webhook servers listen (loopback, apart from their /metrics server).
WEBHOOK_HOST = "127.0.0.2"

#: Seconds a parked PIM write waits at most: a forgotten gate must not hang the run.
MAX_PARK = 120.0


def bound_socket() -> socket.socket:
    """A listening-ready TCP socket bound to a free loopback port (the kernel picks it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


class Loopback:
    """One ASGI app served by uvicorn in a thread on already bound sockets."""

    def __init__(self, app: ASGIApp, sockets: list[socket.socket]) -> None:
        self.sockets = sockets
        config = uvicorn.Config(app, log_level="critical", date_header=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": sockets}, daemon=True
        )
        self.thread.start()
        wait_for(lambda: self.server.started, 10, "a simulator on loopback")

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        for sock in self.sockets:
            sock.close()


@dataclass(frozen=True)
class Write:
    """One asset write (bulk PATCH) the PIM received: who sent it, for which sources, when."""

    replica: int
    sources: frozenset[str]
    started: float
    ended: float


class PimLog:
    """
    ASGI wrapper of the PIM: logs every bulk asset PATCH with the replica that sent it (the
    socket it came in on) and the sources of its asset codes; parks a replica's PATCHes while
    its gate is closed.

    Args:
        app: The PIM simulator.
        ports: The listening port of each replica, in replica order.
        prefixes: ``code prefix -> source name``.
    """

    def __init__(self, app: ASGIApp, ports: list[int], prefixes: dict[str, str]) -> None:
        self.app = app
        self.ports = ports
        self.prefixes = prefixes
        self.writes: list[Write] = []
        self.opened = [threading.Event() for _ in ports]
        for gate in self.opened:
            gate.set()
        self.parked = [threading.Event() for _ in ports]
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "PATCH":
            await self.app(scope, receive, send)
            return
        replica = self.ports.index(scope["server"][1])
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if not self.opened[replica].is_set():
            self.parked[replica].set()
            await asyncio.to_thread(self.opened[replica].wait, MAX_PARK)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        started = time.monotonic()
        try:
            await self.app(scope, replay, send)
        finally:
            write = Write(replica, self._sources(body), started, time.monotonic())
            with self._lock:
                self.writes.append(write)

    def _sources(self, body: bytes) -> frozenset[str]:
        """The sources of the asset codes in a bulk PATCH (a JSON list, or JSON lines)."""
        text = body.decode("utf-8", "replace")
        try:
            items = json.loads(text)
        except ValueError:
            items = []
            for line in text.splitlines():
                try:
                    items.append(json.loads(line))
                except ValueError:
                    continue
        codes = [str(i.get("code", "")) for i in (items if isinstance(items, list) else [items])]
        return frozenset(s for c in codes for p, s in self.prefixes.items() if c.startswith(p))

    def overlaps(self) -> list[str]:
        """Writes of one source by two replicas at the same time (empty: none)."""
        with self._lock:
            writes = list(self.writes)
        found = []
        for i, a in enumerate(writes):
            for b in writes[i + 1 :]:
                shared = a.sources & b.sources
                at_once = a.started < b.ended and b.started < a.ended
                if a.replica != b.replica and shared and at_once:
                    found.append(f"{sorted(shared)}: replica {a.replica} and {b.replica} at once")
        return found

    def writers(self, source: str) -> set[int]:
        """The replicas that wrote ``source``'s assets."""
        with self._lock:
            return {w.replica for w in self.writes if source in w.sources}


@dataclass
class World:
    """The DAM and the PIM simulators, served on loopback for ``replicas`` daemons."""

    sources: list[str]
    replicas: int
    assets: int = 40
    dam: Loopback = field(init=False)
    pim: Loopback = field(init=False)
    log: PimLog = field(init=False)
    dam_url: str = field(init=False)
    pim_urls: list[str] = field(init=False)

    def __post_init__(self) -> None:
        dam_sock = bound_socket()
        self.dam_url = f"http://127.0.0.1:{port_of(dam_sock)}"
        options = DamSimOptions(assets=self.assets, seed=7, history_days=2, base_url=self.dam_url)
        self.dam = Loopback(create_dam_app(options), [dam_sock])
        pim_socks = [bound_socket() for _ in range(self.replicas)]
        ports = [port_of(s) for s in pim_socks]
        self.pim_urls = [f"http://127.0.0.1:{p}" for p in ports]
        pim_app = create_pim_app(load_seed(SEED), options=PimSimOptions(base_url=self.pim_urls[0]))
        self.log = PimLog(pim_app, ports, {prefix(s): s for s in self.sources})
        self.pim = Loopback(self.log, pim_socks)

    def close(self) -> None:
        for gate in self.log.opened:
            gate.set()  # a parked request returns before its server stops
        self.pim.close()
        self.dam.close()

    def tick(self) -> None:
        """The DAM changes: some assets edited, added and deleted."""
        httpx.post(f"{self.dam_url}/_sim/tick", timeout=30).raise_for_status()

    def dam_assets(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.dam_url}/_sim/assets", timeout=30)
        return list(answer.json()["items"])

    def pim_items(self) -> dict[str, dict[str, Any]]:
        """Every PIM asset of both families, by code."""
        client = httpx.Client(base_url=self.pim_urls[0], timeout=30)
        with client:
            token = client.post(
                "/api/oauth/v1/token",
                json={"grant_type": "password", "username": "demo", "password": "demo"},
                auth=("demo_client", "demo_secret"),
            ).json()["access_token"]
            items: dict[str, dict[str, Any]] = {}
            for family in ("packshots", "notices"):
                url: str | None = f"/api/rest/v1/asset-families/{family}/assets"
                for _ in range(10_000):  # bounded paging
                    if url is None:
                        break
                    page = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
                    items.update({item["code"]: item for item in page["_embedded"]["items"]})
                    nxt = page["_links"].get("next")
                    url = httpx.URL(nxt["href"]).raw_path.decode() if nxt else None
        return items

    def missing(self) -> list[str]:
        """
        How the PIM differs from the DAM's live assets under each source's codes: missing or
        stale assets (values, media), and assets no longer live in the DAM (empty: equal).
        """
        items = self.pim_items()
        expected = set()
        problems = []
        for asset in self.dam_assets():
            if asset["deleted"]:
                continue
            raw = asset["id"] if asset["type"] == "image" else f"notice_{asset['id']}"
            for source in self.sources:
                code = sanitise_code(f"{prefix(source)}{raw}")
                expected.add(code)
                if (reason := mismatch(asset, items.get(code))) is not None:
                    problems.append(f"{code}: {reason}")
        problems += [f"{c}: in the PIM, not live in the DAM" for c in set(items) - expected]
        return sorted(problems)


def prefix(source: str) -> str:
    """The code prefix of ``source``'s PIM assets."""
    return f"{source}_"


def replica_config(
    path: Path,
    world: World,
    replica: int,
    store_url: str,
    *,
    ttl: float,
    heartbeat: float,
    interval: float,
    events: str = "",
) -> Path:
    """
    The example configuration for replica ``replica``: every source of ``world`` (one DAM, codes
    prefixed by source), its own PIM socket, HTTP port 0, a short lease and heartbeat; with
    ``events``, that TOML is added to each source and its webhook server listens on
    :data:`WEBHOOK_HOST` port 0.
    """

    @dataclass
    class _Urls:
        url: str

    @dataclass
    class _Sims:
        pim: _Urls
        dam: _Urls

    sims = _Sims(_Urls(world.pim_urls[replica]), _Urls(world.dam_url))
    write_config(path, sims, store_url=store_url, server_port=0, interval=interval)  # type: ignore[arg-type]
    text = path.read_text(encoding="utf-8")
    head, marker, block = re.split(r"(?m)^(\[\[sources\]\])$", text, maxsplit=1)
    changes = {"lease_ttl = 600": f"lease_ttl = {ttl:g}"}
    if events:
        webhook_host = 'host = "127.0.0.1"                # with [sources.webhook]'
        changes |= {"port = 9181 ": "port = 0 ", "debounce = 1 ": "debounce = 0.2 "}
        changes[webhook_host] = webhook_host.replace("127.0.0.1", WEBHOOK_HOST)
    for old, new in changes.items():
        assert old in head, old
        head = head.replace(old, new)
    head += f"[replicas]\nheartbeat = {heartbeat:g}\n\n"
    blocks = []
    for source in world.sources:
        one = marker + block
        for old, new in {
            'name = "demo"': f'name = "{source}"',
            'code = "{id}"': f'code = "{prefix(source)}{{id}}"',
            'code = "notice_{id}"': f'code = "{prefix(source)}notice_{{id}}"',
        }.items():
            assert old in one, old
            one = one.replace(old, new)
        blocks.append(one + events)
    path.write_text(head + "\n".join(blocks), encoding="utf-8")
    return path


def start_replica(start_daemon: Callable[..., Daemon], config: Path) -> Daemon:
    """Start ``damsync run`` and wait until its HTTP server says which port it bound."""
    daemon = start_daemon(config, 0)

    def bound() -> int | None:
        for line in daemon.wait_event("server.started", timeout=30):
            if line.get("host") == "127.0.0.1":
                return int(line["port"])
        return None

    daemon.port = wait_for(bound, 30, "the daemon's HTTP server")
    return daemon


def webhook_port(daemon: Daemon) -> int:
    """The port of the daemon's webhook server (on :data:`WEBHOOK_HOST`)."""

    def bound() -> int | None:
        for line in daemon.events("server.started"):
            if line.get("host") == WEBHOOK_HOST:
                return int(line["port"])
        return None

    port: int = wait_for(bound, 30, "the daemon's webhook server")
    return port


def holders(store: Store, sources: Iterable[str]) -> dict[str, str | None]:
    """Who holds each source's lease now (``None``: nobody, or expired)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(leases.c.source, leases.c.holder, leases.c.expires_at))
        now = store_now(store)
        found = {r.source: (r.holder if r.expires_at > now else None) for r in rows}
    return {s: found.get(s) for s in sources}


def store_now(store: Store) -> Any:
    """The database clock."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.now())).scalar_one()


def pid_of(holder: str | None) -> int | None:
    """The process id in a lease holder name ``host:pid:starttime``."""
    return None if holder is None else int(holder.split(":")[1])


def owned_by(store: Store, sources: Iterable[str], daemon: Daemon) -> list[str]:
    """The sources whose valid lease ``daemon`` holds."""
    return sorted(s for s, h in holders(store, sources).items() if pid_of(h) == daemon.process.pid)


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    *logs: Daemon,
) -> Any:
    """Poll every 0.1 s until ``predicate`` is truthy; fail naming ``what`` (and the tail of
    the ``logs`` daemons' output, to tell why)."""
    try:
        return wait_for(predicate, timeout, what, step=0.1)
    except AssertionError as exc:
        tails = "".join(f"\n--- daemon {d.process.pid}:\n{d.output()}" for d in logs)
        raise AssertionError(f"{exc}{tails}") from None


__all__ = [
    "Loopback",
    "PimLog",
    "World",
    "bound_socket",
    "holders",
    "owned_by",
    "pid_of",
    "replica_config",
    "start_replica",
    "wait_until",
    "webhook_port",
]
