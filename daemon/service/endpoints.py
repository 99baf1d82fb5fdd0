"""
The daemon's own HTTP endpoints: ``/metrics``, ``/healthz`` and ``/readyz``.

The Starlette app from :func:`build_app` is served by uvicorn in the daemon's event loop
(:func:`serve`), with uvicorn's signal handling off: the runtime owns SIGTERM/SIGINT and stops
the server through an ``asyncio.Event``.

- ``/healthz`` answers when the loop is alive (a blocked loop cannot answer at all).
- ``/readyz`` asks a :class:`ReadinessProbe`, which the runtime implements (database reachable,
  schema at head, each source's last good pass recent enough: see :func:`freshness_check`).
  The server never touches the database itself. 200 when every check passes, 503 otherwise,
  with a JSON body naming each check and why it failed.
- ``/metrics`` renders the registry in the text format the scraper asks for, in a worker
  thread (a render can take a while with many series; the pass shares this loop), once for all
  scrapes arriving meanwhile, and reuses it for ``metrics_cache`` seconds.

Abuse limits (:class:`ServerLimits`, ``[server]`` in the configuration): uvicorn's h11 server has
no connection cap and no request-head timeout, and idle connections hold file descriptors for
ever. :class:`_GuardedH11Protocol` adds both: at ``max_connections`` the connection idle longest
is closed to make room (or the new one, when all are busy), and a connection that has not sent a
complete request head ``header_timeout`` seconds after it opened or after its last response is
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from daemon.service.readiness import READINESS_TIMEOUT, Check, ReadinessProbe, _check_json
from daemon.settings.root import ServerSettings
from daemon.telemetry.logs import redact_text

log = structlog.get_logger(__name__)

#: Seconds a rendered ``/metrics`` body is reused by default.
METRICS_CACHE = 1.0


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """
    What the HTTP server accepts before it sheds work.

    Args:
        max_connections: Open connections at most (each holds a file descriptor).
        header_timeout: Seconds a connection may take to send a complete request head, from its
            opening or from its previous response.
        keep_alive_timeout: Seconds an idle keep-alive connection is kept (uvicorn's).
    """

    max_connections: int = 64
    header_timeout: float = 10.0
    keep_alive_timeout: int = 5

    @classmethod
    def from_settings(cls, server: ServerSettings) -> ServerLimits:
        """The limits of the ``[server]`` section."""
        return cls(
            max_connections=server.max_connections,
            header_timeout=server.header_timeout,
            keep_alive_timeout=server.keep_alive_timeout,
        )


class _MetricsRenderer:
    """
    Renders a registry in a worker thread, once for concurrent scrapes, reused for ``ttl``.

    Keyed by content type, which carries the version and escaping the scraper asked for: the
    cache is bounded so that odd ``Accept`` headers cannot grow it.
    """

    MAX_FORMATS = 8

    def __init__(self, registry: CollectorRegistry, ttl: float) -> None:
        self._registry = registry
        self._ttl = ttl
        self._done: dict[str, tuple[float, bytes]] = {}
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    async def render(self, accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        done = self._done.get(content_type)
        if done is not None and time.monotonic() - done[0] < self._ttl:
            return done[1], content_type
        pending = self._pending.get(content_type)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(encoder, self._registry))
            self._pending[content_type] = pending
            pending.add_done_callback(functools.partial(self._finished, content_type))
        # Shielded: a scraper hanging up must not cancel the render the others wait for.
        return await asyncio.shield(pending), content_type

    def _finished(self, content_type: str, future: asyncio.Future[bytes]) -> None:
        del self._pending[content_type]
        if future.cancelled() or future.exception() is not None:
            return
        if len(self._done) >= self.MAX_FORMATS:
            self._done.clear()
        self._done[content_type] = (time.monotonic(), future.result())


def build_app(
    metrics_registry: CollectorRegistry,
    readiness: ReadinessProbe,
    *,
    readiness_timeout: float = READINESS_TIMEOUT,
    metrics_cache: float = METRICS_CACHE,
) -> Starlette:
    """
    The ASGI app serving ``/metrics``, ``/healthz`` and ``/readyz``.

    Args:
        metrics_registry: What ``/metrics`` renders.
        readiness: What ``/readyz`` asks.
        readiness_timeout: Seconds ``/readyz`` waits for the probe.
        metrics_cache: Seconds a rendered ``/metrics`` body is reused (0: render every scrape
            that does not arrive while another render runs).

    Returns:
        The Starlette app.
    """
    renderer = _MetricsRenderer(metrics_registry, metrics_cache)

    async def metrics(request: Request) -> Response:
        body, content_type = await renderer.render(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            async with asyncio.timeout(readiness_timeout):
                checks = list(await readiness.checks())
        except TimeoutError:
            checks = [Check("probe", False, f"no answer within {readiness_timeout:g}s")]
        except Exception as exc:  # a broken probe means "not ready", never a 500
            log.warning("server.readiness_probe_failed", error=str(exc), kind=type(exc).__name__)
            checks = [Check("probe", False, redact_text(f"{type(exc).__name__}: {exc}"))]
        if not checks:
            checks = [Check("probe", False, "the probe reported no checks")]
        failed = [c.name for c in checks if not c.ok]
        body = {
            "status": "unready" if failed else "ready",
            "failed": failed,
            "checks": [_check_json(c) for c in checks],
        }
        return JSONResponse(body, status_code=503 if failed else 200)

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _LogGate:
    """Logs each event at most once per ``every`` seconds, with how often it happened since."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def note(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        self._count[event] = self._count.get(event, 0) + 1
        last = self._last.get(event)
        if last is None or now - last >= self._every:
            # An abusive client must not turn every connection into a log line.
            log.warning(event, count=self._count.pop(event), **fields)
            self._last[event] = now


class _GuardedH11Protocol(H11Protocol):
    """
    uvicorn's h11 protocol with a cap on open connections and a deadline for each request head.

    A subclass per server (:func:`_guarded_protocol`) carries its limits and log gate.
    """

    limits: ClassVar[ServerLimits] = ServerLimits()
    gate: ClassVar[_LogGate] = _LogGate()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._cycle_when_idle: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._make_room():
            self.gate.note("server.connection_refused", max_connections=self.limits.max_connections)
            self._close()
            return
        self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._wait_for_request()

    def _idle(self) -> bool:
        """No request in progress: before the first one, or between two."""
        return self.cycle is None or self.cycle.response_complete

    def _make_room(self) -> bool:
        """Under the cap, or made so by closing the connection idle longest; False if all busy."""
        others = [
            c
            for c in self.connections
            if c is not self and isinstance(c, _GuardedH11Protocol) and not c.transport.is_closing()
        ]
        if len(others) < self.limits.max_connections:
            return True
        idle = [c for c in others if c._idle()]
        if not idle:
            return False
        self.gate.note("server.connection_evicted", max_connections=self.limits.max_connections)
        min(idle, key=lambda c: c._idle_since)._close()
        return True

    def _wait_for_request(self) -> None:
        self._idle_since = self.loop.time()
        self._cycle_when_idle = self.cycle
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        # Still the same idle state: no complete request head arrived in time.
        if self.cycle is self._cycle_when_idle and self._idle() and not self.transport.is_closing():
            self.gate.note("server.request_head_timeout", timeout=self.limits.header_timeout)
            self._close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _close(self) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def _guarded_protocol(limits: ServerLimits) -> type[_GuardedH11Protocol]:
    """A protocol class for one server: its own limits and its own log gate."""
    return type(
        "GuardedH11Protocol", (_GuardedH11Protocol,), {"limits": limits, "gate": _LogGate()}
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """
    Bind a listening TCP socket, so a busy port fails here with ``OSError``, not ``sys.exit``.

    Args:
        host: Address to bind (``127.0.0.1``, ``0.0.0.0``, ``::``).
        port: Port; 0 picks a free one.

    Returns:
        The bound socket.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    stop_event: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
    shutdown_timeout: int = 5,
    limits: ServerLimits | None = None,
) -> None:
    """
    Serve ``app`` in the running loop until ``stop_event`` is set.

    Args:
        app: The app from :func:`build_app`, or the webhook gate.
        host: Address to listen on.
        port: Port; 0 picks a free one (passed to ``on_started``).
        stop_event: Set by the runtime to stop the server.
        on_started: Called with the bound port once the server accepts connections.
        shutdown_timeout: Seconds open connections get to finish after the stop.
        limits: Connection cap and timeouts (defaults: :class:`ServerLimits`).

    Raises:
        OSError: The address cannot be bound.
        RuntimeError: uvicorn stopped on its own before ``stop_event`` was set.
    """
    sock = bind_socket(host, port)
    bound = int(sock.getsockname()[1])
    limits = limits or ServerLimits()
    config = uvicorn.Config(
        app,
        http=_guarded_protocol(limits),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=shutdown_timeout,
        timeout_keep_alive=limits.keep_alive_timeout,
        # uvicorn counts idle connections against this limit and answers 503 at it: one above
        # our own cap, it is only a backstop (one h11 connection runs one request at a time).
        limit_concurrency=limits.max_connections + 1,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="damsync-http")
    stop = asyncio.create_task(stop_event.wait(), name="damsync-http-stop")
    try:
        while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has a flag, no event)
            await asyncio.sleep(0.01)
        if server.started:
            log.info("server.started", host=host, port=bound)
            if on_started is not None:
                on_started(bound)
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not stop_event.is_set():
            task.result()  # re-raise what stopped uvicorn
            raise RuntimeError("the HTTP server stopped before it was asked to")
    finally:
        server.should_exit = True
        stop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stop
        await task
        sock.close()
        log.info("server.stopped", port=bound)


__all__ = ["METRICS_CACHE", "ServerLimits", "bind_socket", "build_app", "serve"]
