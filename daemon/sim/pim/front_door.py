"""
The PIM simulator's front door: fair use, latency, seeded faults, auth, ``Accept`` and stats.

One pure ASGI middleware wraps every API request (never ``/_sim/*``):

1. fair use: more than ``max_in_flight_per_token`` concurrent requests on one bearer token get
   429 with ``Retry-After``;
2. latency: ``options.latency`` seconds of sleep, while the request counts as in flight;
3. faults, drawn from ``random.Random(rng_seed)`` so a run is reproducible: a drop (see
   :data:`DROP_STATUS`) or an error status from ``fault_statuses``;
4. auth: every ``/api/rest/v1/...`` call needs a valid bearer token (401 otherwise);
5. ``Accept`` on JSON GETs must allow ``application/json`` (406 otherwise);
6. counting: ``requests["<METHOD> <route template>"]["<status>"]``.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.sim.pim.http_errors import API, AUTH_REQUIRED, FAIR_USE, error_response
from daemon.sim.pim.state import PimState

if TYPE_CHECKING:
    from daemon.sim.pim.options import PimSimOptions

# A dropped connection first starts a 502 response and then raises: under uvicorn the status
# line goes out and the connection closes before the body (the client fails reading it); through
# httpx.ASGITransport the raised httpx.RemoteProtocolError reaches the client as a transport error.
DROP_STATUS = 502
FAULT_MESSAGES = {
    429: FAIR_USE,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
JSON_ACCEPTS = frozenset({"application/json", "application/*", "*/*"})


class SimulatedDropError(httpx.RemoteProtocolError):
    """Raised by the simulator to drop a connection; a transport error for httpx clients."""


@dataclass(slots=True)
class SimRuntime:
    """Run-time knobs and counters shared by the middleware and the ``/_sim`` endpoints."""

    options: PimSimOptions
    state: PimState
    rng: random.Random = field(default_factory=random.Random)
    routes: list[Any] = field(default_factory=list)
    requests: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    in_flight: int = 0
    per_token: Counter[str] = field(default_factory=Counter)
    max_in_flight: int = 0
    max_in_flight_per_token: int = 0

    def reseed(self) -> None:
        """Restart the fault sequence from ``options.rng_seed``."""
        self.rng = random.Random(self.options.rng_seed)

    def reset_stats(self) -> None:
        """Forget request counts and high-water marks (current in-flight counts stay)."""
        self.requests.clear()
        self.max_in_flight = self.in_flight
        self.max_in_flight_per_token = max(self.per_token.values(), default=0)
        self.state.uploads = 0
        self.state.upload_bytes = 0

    def stats(self) -> dict[str, Any]:
        """
        The ``GET /_sim/stats`` document.

        Returns:
            Request counts per endpoint template and status, concurrency and upload figures.
        """
        return {
            "requests": {key: dict(counts) for key, counts in sorted(self.requests.items())},
            "max_in_flight": self.max_in_flight,
            "max_in_flight_per_token": self.max_in_flight_per_token,
            "in_flight": self.in_flight,
            "uploads": self.state.uploads,
            "upload_bytes": self.state.upload_bytes,
            "assets": {code: len(f.assets) for code, f in sorted(self.state.families.items())},
        }

    def template(self, scope: Scope) -> str:
        """
        The route template a request matches, for stats.

        Args:
            scope: the ASGI scope.

        Returns:
            e.g. ``/api/rest/v1/asset-families/{family}/assets``, or ``UNMATCHED``.
        """
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(route.path)
            if match is Match.PARTIAL and partial is None:
                partial = str(route.path)
        return partial or "UNMATCHED"

    def draw_fault(self) -> int | None:
        """
        Draw this request's fate from the seeded generator.

        Returns:
            None for a normal answer, :data:`DROP_STATUS` for a drop, else an error status.
        """
        options = self.options
        if options.drop_rate <= 0 and options.fault_rate <= 0:
            return None
        roll = self.rng.random()
        if roll < options.drop_rate:
            return DROP_STATUS
        if roll < options.drop_rate + options.fault_rate and options.fault_statuses:
            return self.rng.choice(options.fault_statuses)
        return None


def bearer(scope: Scope) -> str | None:
    """
    The bearer token of a request, if it sends one.

    Args:
        scope: the ASGI scope.

    Returns:
        The token, or None.
    """
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _accepts_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept":
            ranges = {part.split(";")[0].strip().lower() for part in value.decode().split(",")}
            return bool(ranges & JSON_ACCEPTS)
    return True


class SimMiddleware:
    """The pure ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, runtime: SimRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        statuses: list[int] = []

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        token = bearer(scope)
        runtime.in_flight += 1
        runtime.max_in_flight = max(runtime.max_in_flight, runtime.in_flight)
        if token is not None:
            runtime.per_token[token] += 1
            runtime.max_in_flight_per_token = max(
                runtime.max_in_flight_per_token, runtime.per_token[token]
            )
        dropped = False
        try:
            if (
                token is not None
                and runtime.per_token[token] > runtime.options.max_in_flight_per_token
            ):
                retry = {"Retry-After": str(runtime.options.retry_after)}
                await error_response(429, FAIR_USE, retry)(scope, receive, counted)
                return
            if runtime.options.latency > 0:
                await asyncio.sleep(runtime.options.latency)
            fault = runtime.draw_fault()
            if fault == DROP_STATUS:
                dropped = True
                await counted({"type": "http.response.start", "status": DROP_STATUS, "headers": []})
                raise SimulatedDropError("Server disconnected without sending a response.")
            if fault is not None:
                headers = {"Retry-After": str(runtime.options.retry_after)} if fault == 429 else {}
                message = FAULT_MESSAGES.get(fault, "Simulated fault")
                await error_response(fault, message, headers)(scope, receive, counted)
                return
            await self._guarded(scope, receive, counted, token)
        finally:
            runtime.in_flight -= 1
            if token is not None:
                runtime.per_token[token] -= 1
                if runtime.per_token[token] <= 0:
                    del runtime.per_token[token]
            status = "dropped" if dropped else str(statuses[0] if statuses else 500)
            runtime.requests[f"{scope['method']} {runtime.template(scope)}"][status] += 1

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, token: str | None) -> None:
        path: str = scope["path"]
        api_call = path.startswith(f"{API}/")
        if api_call and (token is None or not self.runtime.state.token_valid(token)):
            await error_response(401, AUTH_REQUIRED)(scope, receive, send)
            return
        binary = path.startswith(f"{API}/asset-media-files/")
        if scope["method"] == "GET" and not binary and not _accepts_json(scope):
            await error_response(406, "The 'Accept' header must allow 'application/json'.")(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)
