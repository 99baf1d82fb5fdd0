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
- ``/metrics`` renders the registry in the text format the scraper asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.service.readiness import READINESS_TIMEOUT, Check, ReadinessProbe, _check_json
from daemon.telemetry.logs import redact_text

log = structlog.get_logger(__name__)


def build_app(
    metrics_registry: CollectorRegistry,
    readiness: ReadinessProbe,
    *,
    readiness_timeout: float = READINESS_TIMEOUT,
) -> Starlette:
    """
    The ASGI app serving ``/metrics``, ``/healthz`` and ``/readyz``.

    Args:
        metrics_registry: What ``/metrics`` renders.
        readiness: What ``/readyz`` asks.
        readiness_timeout: Seconds ``/readyz`` waits for the probe.

    Returns:
        The Starlette app.
    """

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics_registry), media_type=content_type)

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
    app: Starlette,
    host: str,
    port: int,
    stop_event: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
    shutdown_timeout: int = 5,
) -> None:
    """
    Serve ``app`` in the running loop until ``stop_event`` is set.

    Args:
        app: The app from :func:`build_app`.
        host: Address to listen on.
        port: Port; 0 picks a free one (passed to ``on_started``).
        stop_event: Set by the runtime to stop the server.
        on_started: Called with the bound port once the server accepts connections.
        shutdown_timeout: Seconds open connections get to finish after the stop.

    Raises:
        OSError: The address cannot be bound.
        RuntimeError: uvicorn stopped on its own before ``stop_event`` was set.
    """
    sock = bind_socket(host, port)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=shutdown_timeout,
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


__all__ = ["bind_socket", "build_app", "serve"]
