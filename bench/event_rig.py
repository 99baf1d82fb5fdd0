"""
Plumbing of the event benchmark (``bench.events``): the simulators served in this process, the
watch on the PIM simulator's state, the daemon as a child process, and the broker's throw-away
queue or stream.

Nothing here decides what is measured; ``bench.events`` does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench.harness import EXAMPLE, LINK_MAPPING
from daemon.sim.pim.state import PimState

Via = Literal["webhook", "rabbitmq", "nats"]
VIAS: tuple[Via, ...] = ("webhook", "rabbitmq", "nats")
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"
#: The benchmark's source name (the webhook path is ``/webhooks/bench``).
SOURCE = "bench"
#: Seconds a simulator may keep an idle connection: longer than the daemon's clients keep
#: theirs, so the client always closes first (no "server disconnected" retry).
KEEP_ALIVE = 60


def bound_socket() -> socket.socket:
    """A loopback TCP socket bound to a free port (kept: nobody can take the port meanwhile)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: Ctrl-C stays this process's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def served(app: ASGIApp, sock: socket.socket, *, lifespan: bool) -> AsyncIterator[None]:
    """Serve ``app`` on ``sock`` in the running loop for the duration of the block."""
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on" if lifespan else "off",
        timeout_keep_alive=KEEP_ALIVE,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):  # uvicorn has a flag, no event; 10 s at most
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError(f"a simulator did not start on port {port_of(sock)}")
        yield
    finally:
        server.should_exit = True
        await asyncio.wait({task}, timeout=10)
        sock.close()


class PimWatch:
    """
    Changes awaited in the PIM simulator's state, timed the moment it holds them.

    :meth:`middleware` wraps the simulator: when the answer to any write (not GET/HEAD) starts,
    the handler has already changed the state, and :meth:`check` looks for every awaited value
    then, so a change is timed to within one scan of the pending ones (microseconds) plus the
    lag of this process's event loop, which :class:`LoopLag` measures. :meth:`check` also runs
    every 100 ms (:meth:`poll`), as a safety net for a write path the middleware would miss.

    Args:
        state: The PIM simulator's state (``app.state.pim``).
        family: The asset family the changed assets live in.
        attribute: The attribute whose value each change sets.
    """

    def __init__(self, state: PimState, family: str, attribute: str) -> None:
        self._state = state
        self._family = family
        self._attribute = attribute
        self.pending: dict[str, tuple[str, float]] = {}
        self.latencies: list[float] = []
        self.seen_by_poll = 0
        self.writes = 0  # asset writes answered (bulk or single PATCH)
        self.drained = asyncio.Event()  # set while nothing is awaited

    def expect(self, code: str, value: str, changed_at: float) -> None:
        """Await ``value`` in asset ``code`` from ``changed_at`` (``time.monotonic``) on."""
        self.pending[code] = (value, changed_at)
        self.drained.clear()

    def holds(self, code: str, value: str | None = None) -> bool:
        """Whether the PIM has asset ``code`` (with ``value`` in the watched attribute)."""
        family = self._state.families.get(self._family)
        asset = family.assets.get(code) if family is not None else None
        if asset is None:
            return False
        if value is None:
            return True
        return any(v.get("data") == value for v in asset.values.get(self._attribute, ()))

    def check(self, *, polled: bool = False) -> None:
        """Time every awaited change the PIM now holds."""
        if not self.pending:
            return
        now = time.monotonic()
        for code, (value, changed_at) in list(self.pending.items()):
            if self.holds(code, value):
                del self.pending[code]
                self.latencies.append(now - changed_at)
                self.seen_by_poll += polled
        if not self.pending:
            self.drained.set()

    async def poll(self, stop: asyncio.Event) -> None:
        """:meth:`check` every 100 ms until ``stop``."""
        while not stop.is_set():
            self.check(polled=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """``app`` with :meth:`check` run as each write's answer starts."""

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
                await app(scope, receive, send)
                return

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.writes += "/assets" in scope["path"]
                    self.check()
                await send(message)

            await app(scope, receive, sending)

        return watched


@dataclass(slots=True)
class LoopLag:
    """How late this event loop wakes a 5 ms sleep: the bound on the timing error."""

    lags: list[float] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.005)
            self.lags.append(max(time.monotonic() - before - 0.005, 0.0))


def standard_secret() -> str:
    """A fresh Standard Webhooks secret (``whsec_`` + base64 of 24 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True, slots=True)
class BrokerNames:
    """Throw-away names of one run: a queue (RabbitMQ) or a stream (NATS)."""

    queue: str
    dead_letter_exchange: str
    stream: str
    subject: str
    durable: str

    @classmethod
    def fresh(cls) -> BrokerNames:
        tag = secrets.token_hex(4)
        return cls(
            queue=f"damsync-bench-{tag}",
            dead_letter_exchange=f"damsync-bench-{tag}.dead-letter",
            stream=f"DAMSYNC_BENCH_{tag.upper()}",
            subject=f"damsync.bench.{tag}",
            durable=f"bench-{tag}",
        )


def events_config(
    *,
    pim_url: str,
    dam_url: str,
    database_url: str,
    metrics_port: int,
    events_port: int,
    debounce: float,
    via: Via,
    secret_file: Path,
    names: BrokerNames,
) -> str:
    """
    The daemon's configuration: the example's source in link mode (every asset to
    ``packshots``, no binary), passes an hour apart, and its events from ``via``.
    """
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in (
        ("http://127.0.0.1:8081", pim_url),
        ("http://127.0.0.1:8082", dam_url),
        ('url = "sqlite:///damsync.db"', f'url = "{database_url}"'),
        ('log_format = "auto"', 'log_format = "json"'),
        ('pid_file = "damsync.pid"', 'pid_file = ""'),
        ("port = 9180", f"port = {metrics_port}"),
        ("interval = 10 ", "interval = 3600 "),
        ("jitter = 1", "jitter = 0"),
    ):
        if old not in text:
            raise RuntimeError(f"the example configuration has no {old!r} to adapt")
        text = text.replace(old, new, 1)
    text, named = re.subn(r'(?m)^name = "demo"', f'name = "{SOURCE}"', text, count=1)
    if not named:
        raise RuntimeError("the example configuration names no source 'demo'")
    text = text[: text.index("[sources.mapping]")] + LINK_MAPPING
    text += '\n[sources.events]\nids = "data.id"\nkind = "type"\ndeleted = ["asset.deleted"]\n'
    if via == "webhook":
        text += (
            f'\n[sources.webhook]\nstyle = "standard"\nsecrets = [{{ file = "{secret_file}" }}]\n'
        )
    elif via == "rabbitmq":
        text += (
            f'\n[sources.broker]\ntype = "rabbitmq"\nurl = "{RABBITMQ_URL}"\n'
            f'queue = "{names.queue}"\ndead_letter_exchange = "{names.dead_letter_exchange}"\n'
        )
    else:
        text += (
            f'\n[sources.broker]\ntype = "nats"\nurl = "{NATS_URL}"\nstream = "{names.stream}"\n'
            f'subject = "{names.subject}"\ndurable = "{names.durable}"\n'
        )
    return with_events_section(text, events_port, debounce)


def with_events_section(text: str, port: int, debounce: float) -> str:
    """``text`` with its ``[events]`` port and debounce set (the section added when missing)."""
    if not re.search(r"(?m)^\[events\]", text):
        return text + f'\n[events]\nhost = "127.0.0.1"\nport = {port}\ndebounce = {debounce}\n'
    start = re.search(r"(?m)^\[events\].*$", text)
    assert start is not None
    end = re.search(r"(?m)^\[", text[start.end() :])
    stop = start.end() + (end.start() if end else len(text) - start.end())
    section = text[start.start() : stop]
    for key, value in (("port", str(port)), ("debounce", f"{debounce:g}")):
        section, found = re.subn(rf"(?m)^{key} = \S+", f"{key} = {value}", section, count=1)
        if not found:
            section = section.rstrip("\n") + f"\n{key} = {value}\n\n"
    return text[: start.start()] + section + text[stop:]


async def create_stream(names: BrokerNames) -> None:
    """Create the run's JetStream stream (the daemon binds its durable consumer to it)."""
    import nats

    client = await nats.connect(NATS_URL, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await client.jetstream().add_stream(name=names.stream, subjects=[names.subject])
    finally:
        await client.close()


async def remove_broker_objects(via: Via, names: BrokerNames) -> None:
    """Delete the run's queue, dead-letter queue and exchange, or its stream."""
    if via == "rabbitmq":
        import aio_pika

        connection = await aio_pika.connect(RABBITMQ_URL, timeout=5)
        async with connection:
            channel = await connection.channel()
            for queue in (names.queue, f"{names.queue}.dead"):
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            with contextlib.suppress(Exception):
                await channel.exchange_delete(names.dead_letter_exchange)
    elif via == "nats":
        import nats

        client = await nats.connect(NATS_URL, connect_timeout=5, max_reconnect_attempts=0)
        try:
            with contextlib.suppress(Exception):
                await client.jetstream().delete_stream(names.stream)
        finally:
            await client.close()


class DaemonProcess:
    """``python -m daemon run`` as a child process; its output in ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daemon", "run", "--migrate", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("DAMSYNC_")},
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def wait_for(self, text: str, timeout: float) -> None:
        """Wait until the daemon's output holds ``text`` (fail when it exits or times out)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {text!r} from the daemon in {timeout:g} s:\n{self.tail()}")
            await asyncio.sleep(0.05)

    def tail(self, chars: int = 3000) -> str:
        return self.output()[-chars:]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the daemon so far (``/proc/<pid>/stat``, Linux)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text(encoding="ascii")
        fields = stat[stat.rindex(")") + 2 :].split()  # after the command name
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


async def scrape(url: str) -> dict[str, float]:
    """The daemon's ``/metrics`` samples as ``{"name{label=value,...}": value}``."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(url)).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = float(sample.value)
    return out


def total(samples: dict[str, float], name: str) -> float:
    """The sum of every sample of metric ``name`` (any labels)."""
    return float(sum(v for k, v in samples.items() if k.startswith(name + "{")))


__all__ = [
    "VIAS",
    "BrokerNames",
    "DaemonProcess",
    "LoopLag",
    "PimWatch",
    "Via",
    "bound_socket",
    "create_stream",
    "events_config",
    "port_of",
    "remove_broker_objects",
    "scrape",
    "served",
    "standard_secret",
    "total",
    "with_events_section",
]
