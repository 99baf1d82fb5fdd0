"""Short-lived tokens against the PIM simulator: the refresh margin shrinks with the lifetime."""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from daemon.pim import PasswordAuth, PimClient
from daemon.upstream.policy import RetryPolicy

sim = pytest.importorskip("daemon.sim.pim")

SEED = Path(__file__).resolve().parents[2] / "config" / "sim" / "pim-seed.json"
BASE = "http://pim.sim"
TOKEN = "POST /api/oauth/v1/token"
FAMILY = "GET /api/rest/v1/asset-families/{code}"
MARGIN = 60.0
STEP = 0.25
MINUTE = 60.0
NO_RETRY = RetryPolicy(attempts=1, deadline=10, wait_initial=0.0, wait_max=0.0, retry_after_max=0.0)


class SharedClock:
    """One fake time for both sides: monotonic seconds for the client, UTC stamps for the PIM."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.epoch = datetime(2024, 5, 31, 9, 0, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.seconds

    def utc(self) -> datetime:
        return self.epoch + timedelta(seconds=self.seconds)


async def no_sleep(_: float) -> None:
    return None


def grants_for(lifetime: int) -> int:
    """Token requests in a minute: one every lifetime - min(margin, lifetime / 4) seconds."""
    return math.ceil(MINUTE / (lifetime - min(MARGIN, lifetime / 4)))


async def a_minute_of_requests(
    lifetime: int,
) -> tuple[dict[str, Any], list[MutableMapping[str, Any]]]:
    """Read a family every 0.25 s for a simulated minute; return the simulator's stats and logs."""
    clock = SharedClock()
    app = sim.create_pim_app(
        sim.load_seed(SEED),
        options=sim.PimSimOptions(base_url=BASE, token_ttl=lifetime),
        clock=clock.utc,
    )
    transport = httpx.ASGITransport(app=app)
    auth = PasswordAuth(
        client_id="demo_client",
        secret="demo_secret",
        username="demo",
        password="demo",
        refresh_margin=MARGIN,
        clock=clock.monotonic,
    )
    client = PimClient(BASE, auth=auth, transport=transport, retry=NO_RETRY, sleep=no_sleep)
    with capture_logs() as logs:
        async with client:
            for _ in range(int(MINUTE / STEP)):
                await client.get_asset_family("packshots")
                clock.seconds += STEP
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as helper:
        stats: dict[str, Any] = (await helper.get("/_sim/stats")).json()
    return stats, logs


@pytest.mark.parametrize(("lifetime", "expected"), [(1, 80), (30, 3), (3600, 1)])
async def test_token_requests_per_minute_are_bounded_by_the_lifetime(lifetime, expected):
    """In a minute of requests a 1 s token is fetched 80 times, a 30 s one 3, a 3600 s one once."""
    stats, _ = await a_minute_of_requests(lifetime)
    assert expected == grants_for(lifetime)
    assert {"200": expected} == stats["requests"][TOKEN]
    assert {"200": int(MINUTE / STEP)} == stats["requests"][FAMILY]


@pytest.mark.parametrize(("lifetime", "margin"), [(1, 0.25), (30, 7.5)])
async def test_a_short_lifetime_is_warned_about_once(lifetime, margin):
    """A token living under four margins logs one warning with the lifetime and the margin used."""
    _, logs = await a_minute_of_requests(lifetime)
    warnings = [event for event in logs if event["event"] == "pim.token_short_lived"]
    expected = {
        "event": "pim.token_short_lived",
        "log_level": "warning",
        "lifetime": float(lifetime),
        "refresh_margin": MARGIN,
        "effective_margin": margin,
    }
    assert [expected] == warnings


async def test_a_long_lifetime_is_not_warned_about():
    """An hour-long token keeps the configured margin and logs no warning."""
    _, logs = await a_minute_of_requests(3600)
    assert [] == [event for event in logs if event["event"] == "pim.token_short_lived"]
