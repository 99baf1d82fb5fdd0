"""
The legacy PAM simulator: a Starlette app of a 2.1-3.2 EE PIM's asset API, and its command.

``create_pam_app(options)`` builds the app (``pam-migration.md`` §2-§3); ``pam_command`` serves
it with uvicorn (``damsync sim pam``). Helper endpoints under ``/_sim/`` need no auth and are
never faulted: ``GET /_sim/stats`` (requests per route and status, downloads per file key) and
``POST /_sim/expire-tokens``.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import click
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.sim.pam import pam_sim_catalog as c
from daemon.sim.pam import pam_sim_models as m
from daemon.sim.pam import pam_sim_products as p
from daemon.sim.pam import pam_sim_routes as r
from daemon.sim.pam.pam_dataset import PamDataset, PamSimOptions
from daemon.sim.pam.pam_sim_auth import (
    CLIENT_ID,
    SECRET,
    USERS,
    SimError,
    TokenBook,
    token_endpoint,
)

log = structlog.get_logger(__name__)
ASSET = f"{r.API}/assets/{{code}}"


def _routes() -> list[Route]:
    def route(path: str, endpoint: Any) -> Route:
        return Route(path, endpoint, methods=["POST" if path.endswith("token") else "GET"])

    return [
        route("/api/oauth/v1/token", token_endpoint),
        route(f"{r.API}/assets", r.list_assets),
        route(ASSET, r.get_asset),
        route(f"{ASSET}/reference-files/{{locale}}", r.get_reference),
        route(f"{ASSET}/reference-files/{{locale}}/download", r.download_reference),
        route(f"{ASSET}/variation-files/{{channel}}/{{locale}}", r.get_variation),
        route(f"{ASSET}/variation-files/{{channel}}/{{locale}}/download", r.download_variation),
        route(f"{r.API}/asset-categories", c.list_categories),
        route(f"{r.API}/asset-categories/{{code}}", c.get_category),
        route(f"{r.API}/asset-tags", c.list_tags),
        route(f"{r.API}/asset-tags/{{code}}", c.get_tag),
        route(f"{r.API}/channels", c.list_channels),
        route(f"{r.API}/locales", c.list_locales),
        route(f"{r.API}/attributes", p.list_attributes),
        route(f"{r.API}/products", p.list_products),
        route(f"{r.API}/products/{{code}}", p.get_product),
        route(f"{r.API}/product-models", m.list_models),
        route(f"{r.API}/product-models/{{code}}", m.get_model),
        route("/_sim/stats", _stats),
        Route("/_sim/expire-tokens", _expire_tokens, methods=["POST"]),
    ]


class _FrontDoor:
    """Counts every API request per route template and status; draws seeded 500s."""

    def __init__(self, app: ASGIApp, *, owner: Starlette) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        state = self.owner.state
        template = next(
            (rt.path for rt in state.routes if rt.matches(scope)[0] is Match.FULL), scope["path"]
        )
        name = f"{scope['method']} {template}"
        if state.dataset.options.latency:
            await asyncio.sleep(state.dataset.options.latency)
        if state.fault_rng.random() < state.dataset.options.fault_rate:
            state.requests[name]["500"] += 1
            await SimError(500, "Internal Server Error").response()(scope, receive, send)
            return
        status: list[int] = []

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)
        state.requests[name][str(status[0] if status else 0)] += 1


async def _stats(request: Request) -> Response:
    state = request.app.state
    return JSONResponse(
        {
            "requests": {k: dict(v) for k, v in sorted(state.requests.items())},
            "downloads": dict(state.downloads),
        }
    )


async def _expire_tokens(request: Request) -> Response:
    book: TokenBook = request.app.state.tokens
    return JSONResponse({"expired": book.expire_all()})


async def _sim_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SimError)  # registered for SimError only
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    return SimError(
        exc.status_code, f'No route found for "{request.method} {request.url.path}"'
    ).response()


def create_pam_app(options: PamSimOptions | None = None) -> Starlette:
    """
    Build the legacy PAM simulator.

    Args:
        options: the data and behaviour; defaults to :class:`PamSimOptions()`.

    Returns:
        The app; ``state.dataset`` is the :class:`PamDataset`, ``state.downloads`` counts the
        downloads per file key.
    """
    options = options or PamSimOptions()
    routes = _routes()
    app = Starlette(
        routes=routes, exception_handlers={SimError: _sim_error, HTTPException: _http_error}
    )
    app.add_middleware(_FrontDoor, owner=app)
    app.state.dataset = PamDataset(options)
    app.state.tokens = TokenBook()
    app.state.routes = routes
    app.state.requests = {}
    app.state.downloads = Counter()
    app.state.fault_rng = random.Random(options.rng_seed)
    app.state.requests = _Requests()
    return app


class _Requests(dict[str, Counter[str]]):
    """Request counts: a missing route name starts at zero."""

    def __missing__(self, key: str) -> Counter[str]:
        value: Counter[str] = Counter()
        self[key] = value
        return value


@click.command("pam")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8083, show_default=True, type=int, help="TCP port.")
@click.option("--assets", default=40, show_default=True, type=int, help="How many PAM assets.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same data.")
@click.option("--tags", default=12, show_default=True, type=int, help="Distinct tag codes in use.")
@click.option(
    "--no-pitfalls", is_flag=True, help="No missing files, bad codes or failed variations."
)
@click.option(
    "--locale-word",
    type=click.Choice(["no-locale", "no_locale"]),
    default="no-locale",
    show_default=True,
    help="The locale word of non-localizable assets (no_locale: pre-release 2.x).",
)
@click.option("--fault-rate", default=0.0, show_default=True, type=float, help="Share of 500s.")
@click.option("--latency", default=0.0, show_default=True, type=float, help="Seconds per request.")
@click.option(
    "--products", default=12, show_default=True, type=int, help="Products with asset collections."
)
@click.option(
    "--product-models",
    default=4,
    show_default=True,
    type=int,
    help="Product models (roots and sub models) with asset collections.",
)
def pam_command(
    host: str,
    port: int,
    assets: int,
    seed: int,
    tags: int,
    no_pitfalls: bool,
    locale_word: str,
    fault_rate: float,
    latency: float,
    products: int,
    product_models: int,
) -> None:
    """Serve a legacy PAM (2.1-3.2 EE asset API) on loopback, for migrate-pam."""
    import uvicorn  # imported here: only the serving command needs it

    url = f"http://{host}:{port}"
    try:
        options = PamSimOptions(
            assets=assets,
            seed=seed,
            tags=tags,
            pitfalls=not no_pitfalls,
            locale_word="no_locale" if locale_word == "no_locale" else "no-locale",
            fault_rate=fault_rate,
            latency=latency,
            base_url=url,
            products=products,
            product_models=product_models,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    # The simulator's own demo credentials, printed so a user can point migrate-pam at it.
    log.info(
        "sim.pam_serving",
        url=url,
        client_id=CLIENT_ID,
        secret=SECRET,
        username=USERS[0].username,
        password=USERS[0].password,
    )
    uvicorn.run(create_pam_app(options), host=host, port=port, log_level="warning")


__all__ = ["create_pam_app", "pam_command"]
