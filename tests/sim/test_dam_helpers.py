"""Helpers shared by the DAM simulator tests (a settable clock and an in-process client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BEARER = {"Authorization": "Bearer demo-token"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_client(
    options: DamSimOptions | None = None, clock: Clock | None = None
) -> tuple[httpx.AsyncClient, Clock]:
    """Build a simulated DAM and an httpx client mounted on it through ASGITransport."""
    clock = clock or Clock()
    app = create_dam_app(options or DamSimOptions(assets=50), clock=clock)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    return client, clock


async def oracle(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every asset the DAM holds, deleted ones included, from ``/_sim/assets``."""
    response = await client.get("/_sim/assets", params={"compact": "1"})
    assert 200 == response.status_code
    items: list[dict[str, Any]] = response.json()["items"]
    return items
