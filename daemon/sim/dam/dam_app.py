"""
The DAM simulator: an ASGI app serving a generic REST DAM, Bynder and Cloudinary shapes.

``create_dam_app`` assembles the store (dam_data), the request plumbing (dam_server), the API
shapes (dam_generic, dam_bynder, dam_cloudinary), the optional event feed (event_feed: signed
webhooks and broker messages for every change) and the helper endpoints under ``/_sim/``
that tests and the demo use to drive and inspect the DAM. ``dam_command`` serves it with
uvicorn on loopback (``damsync sim dam``). See docs/dam-simulator.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import click
import httpx
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.core.errors import ConfigError
from daemon.sim.dam.bynder import bynder_routes
from daemon.sim.dam.cloudinary import cloudinary_routes
from daemon.sim.dam.dataset import DamSimOptions, parse_asset_id
from daemon.sim.dam.event_admin import event_routes
from daemon.sim.dam.event_cli import event_options, feed_options
from daemon.sim.dam.event_feed import EventFeed
from daemon.sim.dam.event_options import EventFeedOptions
from daemon.sim.dam.generic import generic_routes
from daemon.sim.dam.plumbing import DamSim, DateHeaderMiddleware, json_body
from daemon.sim.dam.query import QueryError, parse_time
from daemon.sim.dam.shapes import oracle_item

log = structlog.get_logger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_dam_app(
    options: DamSimOptions | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    events: EventFeedOptions | None = None,
    event_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """
    Build a simulated DAM.

    Args:
        options: sizes, seed, ticks, latency, faults, credentials; defaults when ``None``.
        clock: the DAM's clock (aware UTC); stamps ``updated_at`` and the ``Date`` header.
        events: send every change as an event (webhook, RabbitMQ, NATS); ``None``: none.
        event_transport: the httpx transport of the webhook (tests); ``None``: the network.

    Returns:
        The Starlette app; ``app.state.dam`` is its :class:`DamSim`, ``app.state.events`` its
        :class:`EventFeed` or ``None``. The feed runs during the app's lifespan; without one
        (``httpx.ASGITransport``), use it as ``async with app.state.events: ...``.
    """
    opts = options or DamSimOptions()
    now = clock or _utc_now
    sim = DamSim(opts, now)
    feed = (
        EventFeed(events, sim.store, now, base_url=opts.base_url, transport=event_transport)
        if events is not None
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_ticker(sim)) if opts.tick_interval else None
        async with contextlib.AsyncExitStack() as stack:
            if feed is not None:
                await stack.enter_async_context(feed)
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    routes = [
        *generic_routes(sim),
        *bynder_routes(sim),
        *cloudinary_routes(sim),
        *_helper_routes(sim),
        *event_routes(feed),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(DateHeaderMiddleware, clock=now)],
        lifespan=lifespan,
    )
    app.state.dam = sim
    app.state.events = feed
    return app


async def _ticker(sim: DamSim) -> None:
    interval = sim.options.tick_interval or 1.0
    while True:
        await asyncio.sleep(interval)
        result = sim.store.tick(sim.now_us())
        log.info(
            "dam_sim.ticked",
            tick=result.tick,
            changed=len(result.changed),
            added=len(result.added),
            deleted=len(result.deleted),
        )


def _helper_routes(sim: DamSim) -> list[Route]:
    store = sim.store
    base = sim.options.base_url.rstrip("/")

    async def tick(_request: Request) -> Response:
        result = store.tick(sim.now_us())
        return json_body(
            {
                "tick": result.tick,
                "changed": result.changed,
                "added": result.added,
                "deleted": result.deleted,
                "burst_updated_at": result.burst_updated_at,
            }
        )

    async def stats(_request: Request) -> Response:
        return json_body(sim.stats())

    async def assets(request: Request) -> Response:
        if request.query_params.get("compact") in ("1", "true"):
            items: list[dict[str, Any]] = [
                {
                    "id": r.id,
                    "updated_us": r.updated_us,
                    "deleted": r.deleted,
                    "version": r.version,
                    "file_version": r.file_version,
                }
                for r in store.records
            ]
        else:
            items = [oracle_item(store, r, base) for r in store.records]
        return json_body({"items": items, "total": len(items)})

    async def options(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        try:
            sim.set_runtime(
                latency=_number(body, "latency"),
                fault_rate=_number(body, "fault_rate"),
                rng_seed=_integer(body, "rng_seed"),
            )
        except QueryError as exc:
            return _bad(exc.param, exc.message)
        return json_body({"latency": sim.latency, "fault_rate": sim.fault_rate})

    async def mutate(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        num = parse_asset_id(str(body.get("id", "")))
        if num is None or store.get(num) is None:
            return _bad("id", f"unknown asset id {body.get('id')!r}", status=404)
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return _bad("metadata", "must be an object")
        deleted = body.get("deleted")
        if deleted is not None and not isinstance(deleted, bool):
            return _bad("deleted", "must be true or false")
        try:
            stamp = (
                parse_time(str(body["updated_at"]), "updated_at")
                if body.get("updated_at") is not None
                else None
            )
        except QueryError as exc:
            return _bad(exc.param, exc.message)
        record = store.mutate(
            num,
            sim.now_us(),
            metadata=metadata,
            deleted=deleted,
            updated_us=stamp,
            new_file=bool(body.get("new_file", False)),
        )
        return json_body(oracle_item(store, record, base))

    return [
        Route("/_sim/tick", tick, methods=["POST"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/assets", assets, methods=["GET"]),
        Route("/_sim/options", options, methods=["PUT"]),
        Route("/_sim/mutate", mutate, methods=["POST"]),
    ]


async def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return _bad("body", "not valid JSON")
    if not isinstance(body, dict):
        return _bad("body", "must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(key, "must be a number")
    return float(value)


def _integer(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(key, "must be an integer")
    return value


def _bad(param: str, message: str, *, status: int = 400) -> Response:
    return JSONResponse({"error": message, "param": param}, status_code=status)


@click.command("dam")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8082, show_default=True, type=int, help="TCP port.")
@click.option("--assets", default=1000, show_default=True, type=int, help="Assets at start.")
@click.option("--seed", default=7, show_default=True, type=int, help="Generation seed.")
@click.option("--tick", "tick", default=None, type=float, help="Seconds between mutation ticks.")
@click.option("--latency", default=0.0, show_default=True, type=float, help="Seconds per request.")
@click.option("--fault-rate", default=0.0, show_default=True, type=float, help="Fault probability.")
@click.option("--rng-seed", default=0, show_default=True, type=int, help="Fault sequence seed.")
@click.option(
    "--localized-files",
    is_flag=True,
    help="Give PDFs a manual per locale and images a rendition per channel (metadata files).",
)
@event_options
def dam_command(
    host: str,
    port: int,
    assets: int,
    seed: int,
    tick: float | None,
    latency: float,
    fault_rate: float,
    rng_seed: int,
    localized_files: bool,
    **events: Any,
) -> None:
    """Serve the simulated DAM (generic, Bynder and Cloudinary shapes) on loopback.

    With --webhook-url, --amqp-url or --nats-url it also sends every change as a signed event.
    """
    try:
        options = DamSimOptions(
            assets=assets,
            seed=seed,
            tick_interval=tick,
            latency=latency,
            fault_rate=fault_rate,
            rng_seed=rng_seed,
            base_url=f"http://{host}:{port}",
            localized_files=localized_files,
        )
        feed = feed_options(events)
    except ConfigError as exc:  # one line, exit 2, as click says a bad option
        raise click.BadParameter(str(exc)) from None
    app = create_dam_app(options, events=feed)
    click.echo(f"DAM simulator on http://{host}:{port} ({assets} assets, seed {seed})")
    if feed is not None:
        targets = [t for t in ("webhook", "amqp", "nats") if events[f"{t}_url"]]
        click.echo(f"  events: {feed.style} style to {', '.join(targets)}")
    uvicorn.run(app, host=host, port=port, log_level="warning", date_header=False)


__all__ = ["DamSimOptions", "create_dam_app", "dam_command"]
