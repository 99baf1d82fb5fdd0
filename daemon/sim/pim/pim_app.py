"""
The Akeneo PIM simulator: a Starlette app written from the API reference, and its CLI command.

``create_pim_app(seed, options=...)`` builds the app; ``pim_command`` serves it with uvicorn.
Route modules: :mod:`pim_auth` (token), :mod:`pim_families` and
:mod:`pim_attributes` (families, attributes, options),
:mod:`pim_assets` (assets, media files), :mod:`pim_products` (products),
:mod:`pim_catalog` (channels, locales, product attributes: read and upsert);
:mod:`pim_faults` is the front door (fair use, latency, faults, auth, stats).
Helper endpoints under ``/_sim/`` need no auth and are never faulted.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.sim.pim import assets, attributes, families, product_reads, products
from daemon.sim.pim import catalog_routes as catalog
from daemon.sim.pim.front_door import SimMiddleware, SimRuntime
from daemon.sim.pim.http_errors import API, ApiError, parse_json
from daemon.sim.pim.oauth import token_endpoint
from daemon.sim.pim.options import PimSimOptions
from daemon.sim.pim.seed import build_state, load_seed
from daemon.sim.pim.state import Clock, PimState, utc_now

log = structlog.get_logger(__name__)


FAMILY = f"{API}/asset-families/{{family}}"


def _routes() -> list[Route]:
    def r(path: str, endpoint: Any, method: str) -> Route:
        return Route(path, endpoint, methods=[method])

    return [
        r("/api/oauth/v1/token", token_endpoint, "POST"),
        r(API, _root, "GET"),
        r(f"{API}/asset-families", families.list_families, "GET"),
        r(f"{API}/asset-families/{{code}}", families.get_family, "GET"),
        r(f"{API}/asset-families/{{code}}", families.patch_family, "PATCH"),
        r(f"{FAMILY}/attributes", attributes.list_attributes, "GET"),
        r(f"{FAMILY}/attributes/{{attribute}}", attributes.get_attribute, "GET"),
        r(f"{FAMILY}/attributes/{{attribute}}", attributes.patch_attribute, "PATCH"),
        r(f"{FAMILY}/attributes/{{attribute}}/options", attributes.list_options, "GET"),
        r(f"{FAMILY}/attributes/{{attribute}}/options/{{code}}", attributes.get_option, "GET"),
        r(f"{FAMILY}/attributes/{{attribute}}/options/{{code}}", attributes.patch_option, "PATCH"),
        r(f"{FAMILY}/assets", assets.list_assets, "GET"),
        r(f"{FAMILY}/assets", assets.bulk_patch_assets, "PATCH"),
        r(f"{FAMILY}/assets/{{code}}", assets.get_asset, "GET"),
        r(f"{FAMILY}/assets/{{code}}", assets.patch_asset, "PATCH"),
        r(f"{FAMILY}/assets/{{code}}", assets.delete_asset, "DELETE"),
        r(f"{API}/asset-media-files", assets.upload_media, "POST"),
        r(f"{API}/asset-media-files/{{code:path}}", assets.download_media, "GET"),
        r(f"{API}/attributes", catalog.list_product_attributes, "GET"),
        r(f"{API}/attributes/{{code}}", catalog.get_product_attribute, "GET"),
        r(f"{API}/attributes/{{code}}", catalog.patch_product_attribute, "PATCH"),
        r(f"{API}/channels", catalog.list_channels, "GET"),
        r(f"{API}/locales", catalog.list_locales, "GET"),
        *[
            route
            for kind in (products.PRODUCTS, products.PRODUCTS_UUID, products.MODELS)
            for route in (
                r(f"{API}/{kind.path}", product_reads.list_many(kind), "GET"),
                r(f"{API}/{kind.path}", products.patch_many(kind), "PATCH"),
                r(f"{API}/{kind.path}/{{key:path}}", product_reads.get_one, "GET"),
                r(f"{API}/{kind.path}/{{key:path}}", products.patch_one(kind), "PATCH"),
            )
        ],
        r("/_sim/stats", _stats, "GET"),
        r("/_sim/reset-stats", _reset_stats, "POST"),
        r("/_sim/options", _put_options, "PUT"),
        r("/_sim/expire-tokens", _expire_tokens, "POST"),
        r("/_sim/link-runs", _link_runs, "GET"),
    ]


async def _root(request: Request) -> Response:
    """``GET /api/rest/v1``: the route list, without authentication."""
    found: dict[str, dict[str, Any]] = {}
    for route in request.app.state.sim.routes:
        if route.path.startswith(API):
            entry = found.setdefault(route.path, {"route": route.path, "methods": []})
            entry["methods"] = sorted({*entry["methods"], *(route.methods or set())} - {"HEAD"})
    return JSONResponse(
        {
            "host": str(request.base_url).rstrip("/"),
            "authentication": {
                "fos_oauth_server_token": {"route": "/api/oauth/v1/token", "methods": ["POST"]}
            },
            "routes": found,
        }
    )


async def _stats(request: Request) -> Response:
    """``GET /_sim/stats``."""
    runtime: SimRuntime = request.app.state.sim
    return JSONResponse(runtime.stats())


async def _reset_stats(request: Request) -> Response:
    """``POST /_sim/reset-stats``."""
    runtime: SimRuntime = request.app.state.sim
    runtime.reset_stats()
    return Response(status_code=204)


async def _put_options(request: Request) -> Response:
    """``PUT /_sim/options``: change any :class:`PimSimOptions` fields at run time."""
    runtime: SimRuntime = request.app.state.sim
    body = parse_json(await request.body())
    names = {f.name for f in dataclasses.fields(PimSimOptions)}
    if not isinstance(body, dict) or not set(body) <= names:
        unknown = sorted(set(body) - names) if isinstance(body, dict) else []
        raise ApiError(422, f"Unknown or invalid options: {', '.join(unknown) or 'not an object'}")
    if "fault_statuses" in body and isinstance(body["fault_statuses"], list):
        body["fault_statuses"] = tuple(body["fault_statuses"])
    try:
        runtime.options = dataclasses.replace(runtime.options, **body)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, str(exc)) from exc
    if "rng_seed" in body:
        runtime.reseed()
    return JSONResponse(_options_json(runtime.options))


def _options_json(options: PimSimOptions) -> dict[str, Any]:
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


async def _expire_tokens(request: Request) -> Response:
    """``POST /_sim/expire-tokens``: every expiring access token is expired now."""
    state: PimState = request.app.state.pim
    return JSONResponse({"expired": state.expire_access_tokens()})


async def _link_runs(request: Request) -> Response:
    """``GET /_sim/link-runs``: what the product link rules did, oldest first."""
    state: PimState = request.app.state.pim
    return JSONResponse({"runs": state.link_runs})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # registered for ApiError only
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    message = f'No route found for "{request.method} {request.url.path}"'
    if exc.status_code == 405:
        message += f": Method Not Allowed (Allow: {(exc.headers or {}).get('Allow', '')})"
    return ApiError(exc.status_code, message, headers=dict(exc.headers or {})).response()


def create_pim_app(
    seed: Mapping[str, Any] | None = None,
    *,
    options: PimSimOptions | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """
    Build the simulator app.

    Args:
        seed: the seed mapping (see docs/pim-simulator.md); None for the demo defaults.
        options: run-time behaviour; defaults to :class:`PimSimOptions()`.
        clock: returns the current aware datetime (tests pass a fake to expire tokens).

    Returns:
        The Starlette app; its ``state.pim`` is the :class:`PimState`.
    """
    options = options or PimSimOptions()
    state = build_state(seed, PimState(clock=clock or utc_now))
    runtime = SimRuntime(options=options, state=state, rng=random.Random(options.rng_seed))
    routes = _routes()
    runtime.routes = routes
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SimMiddleware, runtime=runtime)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.pim = state
    app.state.sim = runtime
    return app


@click.command("pim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8081, show_default=True, type=int, help="TCP port.")
@click.option(
    "--seed",
    "seed_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Seed file (JSON or TOML).",
)
@click.option(
    "--latency",
    default=0.0,
    show_default=True,
    type=float,
    help="Seconds added to every API request.",
)
@click.option(
    "--token-ttl",
    default=3600,
    show_default=True,
    type=int,
    help="Access token lifetime in seconds.",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of API requests answered 500/503/429.",
)
@click.option(
    "--drop-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of API requests whose connection is dropped.",
)
@click.option(
    "--max-in-flight-per-token",
    default=4,
    show_default=True,
    type=int,
    help="Concurrent requests allowed per token before 429.",
)
@click.option(
    "--rng-seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the fault generator (same seed, same faults).",
)
def pim_command(
    host: str,
    port: int,
    seed_path: Path | None,
    latency: float,
    token_ttl: int,
    fault_rate: float,
    drop_rate: float,
    max_in_flight_per_token: int,
    rng_seed: int,
) -> None:
    """Serve the Akeneo PIM simulator on loopback (demo, dry runs, end-to-end tests)."""
    import uvicorn  # imported here: only the serving command needs it

    url = f"http://{host}:{port}"
    try:
        options = PimSimOptions(
            latency=latency,
            token_ttl=token_ttl,
            fault_rate=fault_rate,
            drop_rate=drop_rate,
            max_in_flight_per_token=max_in_flight_per_token,
            rng_seed=rng_seed,
            base_url=url,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    seed = load_seed(seed_path) if seed_path else None
    app = create_pim_app(seed, options=options)
    user = app.state.pim.users[0] if app.state.pim.users else None
    # These are the simulator's own demo credentials, printed so a user can point damsync at it.
    log.info(
        "sim.pim_serving",
        url=url,
        client_id=user.client_id if user else None,
        secret=user.secret if user else None,
        username=user.username if user else None,
        password=user.password if user else None,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["create_pim_app", "pim_command"]
