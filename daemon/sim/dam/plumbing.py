"""
Request plumbing of the DAM simulator: auth, latency, seeded faults, stats and the Date header.

:class:`DamSim` holds the store plus everything that can change at run time. Its
:meth:`DamSim.api` wraps every API handler the same way (latency, then a seeded fault draw,
then auth, then the handler), so faults are reproducible per ``rng_seed`` and never touch
``/_sim/*``, which is not wrapped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hmac
import json
import random
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.sim.dam.dataset import DamSimOptions, DamStore, to_us
from daemon.sim.dam.query import QueryError

Shape = Literal["generic", "bynder", "cloudinary", "public"]
Handler = Callable[[Request], Awaitable[Response]]
FaultKind = Literal["500", "503", "429", "html", "truncate"]
FAULT_KINDS: tuple[FaultKind, ...] = ("500", "503", "429", "html", "truncate")
RETRY_AFTER_SECONDS = 1

log = structlog.get_logger(__name__)

_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)


class DamSim:
    """
    One simulated DAM: its store, run-time options, issued tokens and request statistics.

    Args:
        options: the start-up options.
        clock: the DAM's clock (aware UTC datetimes).
    """

    def __init__(self, options: DamSimOptions, clock: Callable[[], datetime]) -> None:
        self.options = options
        self.clock = clock
        self.store = DamStore(options, to_us(clock()))
        self.latency = options.latency
        self.fault_rate = options.fault_rate
        self.fault_rng = random.Random(options.rng_seed)
        self.tokens: set[str] = set()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.faults: Counter[str] = Counter()
        self.downloads = 0
        self.download_bytes = 0

    def now_us(self) -> int:
        """
        Returns:
            The DAM's clock in microseconds since the epoch.
        """
        return to_us(self.clock())

    def set_runtime(
        self, *, latency: float | None, fault_rate: float | None, rng_seed: int | None
    ) -> None:
        """
        Change latency and fault injection while serving.

        Args:
            latency: seconds added to every API request, or ``None`` to keep.
            fault_rate: probability of a fault per API request, or ``None`` to keep.
            rng_seed: restart the fault sequence from this seed, or ``None`` to keep.
        """
        if latency is not None:
            if latency < 0:
                raise QueryError("latency", "must be >= 0")
            self.latency = latency
        if fault_rate is not None:
            if not 0.0 <= fault_rate <= 1.0:
                raise QueryError("fault_rate", "must be in [0, 1]")
            self.fault_rate = fault_rate
        if rng_seed is not None:
            self.fault_rng = random.Random(rng_seed)

    def issue_token(self) -> str:
        """
        Returns:
            A new OAuth2 access token, accepted as Bearer from now on.
        """
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return token

    def authorized(self, request: Request, shape: Shape) -> bool:
        """
        Check the credentials a shape accepts (see docs/dam-simulator.md, "Auth").

        Args:
            request: the incoming request.
            shape: which API the route belongs to.

        Returns:
            Whether the request may proceed.
        """
        if shape == "public":
            return True
        opts = self.options
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            if shape == "cloudinary":
                return value in self.tokens
            return _same(value, opts.token) or value in self.tokens
        if scheme.lower() == "basic" and value and shape != "bynder":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return _same(user, opts.username) and _same(password, opts.password)
        if shape != "generic":
            return False
        key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        return key is not None and _same(key, opts.api_key)

    def draw_fault(self) -> FaultKind | None:
        """
        Returns:
            The fault for the current request, drawn from the seeded sequence, or ``None``.
        """
        if self.fault_rate <= 0.0:
            return None
        if self.fault_rng.random() >= self.fault_rate:
            return None
        return self.fault_rng.choice(FAULT_KINDS)

    def api(self, template: str, handler: Handler, *, shape: Shape, method: str = "GET") -> Route:
        """
        Wrap a handler with latency, faults, auth, error mapping and stats.

        Args:
            template: the route path (also the stats key, never the raw URL).
            handler: the endpoint.
            shape: the API the route belongs to (decides the auth rules and error bodies).
            method: the HTTP method.

        Returns:
            A Starlette route.
        """
        stats_key = f"{method} {template}"

        async def endpoint(request: Request) -> Response:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            fault = self.draw_fault()
            if fault is not None and fault != "truncate":
                response = fault_response(fault)
            elif not self.authorized(request, shape):
                response = error_response(shape, 401, "Unauthorized: missing or bad credentials")
                response.headers["WWW-Authenticate"] = (
                    'Basic realm="cloudinary"' if shape == "cloudinary" else 'Bearer realm="dam"'
                )
            else:
                try:
                    response = await handler(request)
                except QueryError as exc:
                    response = error_response(shape, 400, exc.message, param=exc.param)
                if fault == "truncate" and response.status_code == 200:
                    response = truncated(response)
                elif fault == "truncate":
                    fault = None
            if fault is not None:
                self.faults[fault] += 1
                log.info("dam_sim.fault_injected", endpoint=stats_key, fault=fault)
            self.requests[(stats_key, response.status_code)] += 1
            return response

        return Route(template, endpoint, methods=[method])

    def count_download(self, size: int) -> None:
        """
        Args:
            size: bytes of the binary served.
        """
        self.downloads += 1
        self.download_bytes += size

    def stats(self) -> dict[str, Any]:
        """
        Returns:
            Requests by "<METHOD> <template>" and status, downloads, bytes, faults and counts.
        """
        requests: dict[str, dict[str, int]] = {}
        for (key, status), count in sorted(self.requests.items()):
            requests.setdefault(key, {})[str(status)] = count
        live = len(self.store.by_time_live)
        return {
            "requests": requests,
            "downloads": self.downloads,
            "bytes": self.download_bytes,
            "faults": dict(self.faults),
            "ticks": self.store.tick_count,
            "assets": {
                "total": len(self.store.records),
                "live": live,
                "deleted": len(self.store.records) - live,
            },
        }


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def error_response(
    shape: Shape, status: int, message: str, *, param: str | None = None
) -> Response:
    """
    Build an error body in the shape's own style.

    Args:
        shape: the API (generic, bynder, cloudinary).
        status: HTTP status.
        message: what went wrong.
        param: the offending parameter, if any.

    Returns:
        A JSON response.
    """
    if shape == "bynder":
        body: dict[str, Any] = {"message": message, "statuscode": str(status)}
    elif shape == "cloudinary":
        body = {"error": {"message": message}}
    else:
        body = {"error": message, "status": status}
        if param is not None:
            body["param"] = param
    return JSONResponse(body, status_code=status)


def fault_response(fault: FaultKind) -> Response:
    """
    Args:
        fault: a fault that replaces the answer entirely.

    Returns:
        A 500, a 503, a 429 with ``Retry-After`` or an HTML 502 page from a "proxy".
    """
    if fault == "html":
        return Response(_HTML_PAGE, status_code=502, media_type="text/html")
    if fault == "429":
        return JSONResponse(
            {"error": "Too Many Requests"},
            status_code=429,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    status = int(fault)
    return JSONResponse({"error": "simulated server error", "status": status}, status_code=status)


def truncated(response: Response) -> Response:
    """
    Cut a successful answer in half.

    JSON answers become unparseable (with a matching ``Content-Length``); binaries keep the
    full ``Content-Length``, so an HTTP client sees the connection end early.

    Args:
        response: the complete answer.

    Returns:
        The damaged answer.
    """
    body = bytes(response.body)
    cut = body[: len(body) // 2]
    if response.headers.get("content-type", "").startswith("application/json"):
        return Response(cut, status_code=200, media_type="application/json")
    return ShortBodyResponse(cut, declared=len(body), headers=dict(response.headers))


class ShortBodyResponse(Response):
    """
    A response that declares more bytes than it sends (a dropped download).
    """

    def __init__(self, content: bytes, *, declared: int, headers: dict[str, str]) -> None:
        super().__init__(content, status_code=200, headers=headers)
        self.headers["content-length"] = str(declared)


class DateHeaderMiddleware:
    """
    Adds the DAM's own time as the ``Date`` header of every response.

    Args:
        app: the wrapped ASGI app.
        clock: the DAM's clock.
    """

    def __init__(self, app: ASGIApp, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = email.utils.format_datetime(
                    self.clock().astimezone(UTC), usegmt=True
                ).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self.app(scope, receive, send_with_date)


def json_body(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """
    Args:
        data: a JSON-serialisable value.
        status: HTTP status.
        headers: extra headers.

    Returns:
        A compact JSON response (UTF-8, non-ASCII kept as is).
    """
    content = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


__all__ = [
    "FAULT_KINDS",
    "DamSim",
    "DateHeaderMiddleware",
    "FaultKind",
    "Handler",
    "Shape",
    "error_response",
    "fault_response",
    "json_body",
    "truncated",
]
