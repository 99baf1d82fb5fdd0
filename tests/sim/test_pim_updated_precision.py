"""The ``updated`` asset filter uses the whole seconds the listing shows, in process or served."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

from daemon.sim.pim.options import PimSimOptions
from daemon.sim.pim.pim_app import create_pim_app
from tests.sim.test_pim_support import API, FAMILY_SEED, FakeClock, get_token, sim

ASSETS = f"{API}/asset-families/packshots/assets"
# Sub-second stamps: a1 shows :33, a2 and a3 both show :34, a4 shows :35.
WRITES = (
    ("a1", datetime(2024, 5, 31, 9, 23, 33, 900_000, tzinfo=UTC)),
    ("a2", datetime(2024, 5, 31, 9, 23, 34, 200_000, tzinfo=UTC)),
    ("a3", datetime(2024, 5, 31, 9, 23, 34, 700_000, tzinfo=UTC)),
    ("a4", datetime(2024, 5, 31, 9, 23, 35, 100_000, tzinfo=UTC)),
)
# Queries run one day and half a second after a3's second began.
QUERY_TIME = datetime(2024, 6, 1, 9, 23, 34, 500_000, tzinfo=UTC)
TWO_DAYS = 2 * 86400

Shown = dict[str, str]

# (operator, condition built from the stamps the listing shows, codes expected).
CASES: list[tuple[str, Callable[[Shown], dict[str, Any]], list[str]]] = [
    (">", lambda shown: {"operator": ">", "value": shown["a3"]}, ["a4"]),
    ("<", lambda shown: {"operator": "<", "value": shown["a3"]}, ["a1"]),
    (
        "< with a fraction",
        lambda shown: {"operator": "<", "value": "2024-05-31T09:23:34.500Z"},
        ["a1"],
    ),
    (
        "BETWEEN",
        lambda shown: {"operator": "BETWEEN", "value": [shown["a2"], shown["a3"]]},
        ["a2", "a3"],
    ),
    (
        "NOT BETWEEN",
        lambda shown: {"operator": "NOT BETWEEN", "value": [shown["a2"], shown["a3"]]},
        ["a1", "a4"],
    ),
    (
        "SINCE LAST N DAYS",
        lambda shown: {"operator": "SINCE LAST N DAYS", "value": 1},
        ["a2", "a3", "a4"],
    ),
]
IDS = [case[0] for case in CASES]


async def seed_assets(client: httpx.AsyncClient, clock: FakeClock) -> Shown:
    """Write the four assets at their sub-second times and return the stamps the listing shows."""
    for code, moment in WRITES:
        clock.now = moment
        response = await client.patch(f"{ASSETS}/{code}", json={"code": code})
        assert 201 == response.status_code, response.text
    clock.now = QUERY_TIME
    response = await client.get(ASSETS)
    assert 200 == response.status_code, response.text
    return {item["code"]: item["updated"] for item in response.json()["_embedded"]["items"]}


async def codes(client: httpx.AsyncClient, conditions: list[dict[str, Any]]) -> list[str]:
    """The codes of the assets an ``updated`` search returns."""
    search = json.dumps({"updated": conditions})
    response = await client.get(ASSETS, params={"search": search})
    assert 200 == response.status_code, response.text
    return [item["code"] for item in response.json()["_embedded"]["items"]]


async def resume_reads(client: httpx.AsyncClient, shown: Shown) -> list[list[str]]:
    """Resume twice from the highest ``updated`` seen, as a changed-since sync does."""
    cursor = max(shown.values())
    reads = []
    for _ in range(2):
        page = await codes(client, [{"operator": ">", "value": cursor}])
        reads.append(page)
        cursor = max([shown[code] for code in page], default=cursor)
    return reads


@asynccontextmanager
async def in_process() -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock]]:
    """The simulator in process, on a fake clock, with a token that outlives the test."""
    clock = FakeClock()
    async with sim(FAMILY_SEED, clock=clock, token_ttl=TWO_DAYS) as (client, _):
        yield client, clock


@pytest.fixture(name="served")
def _served() -> Iterator[tuple[str, FakeClock]]:
    clock = FakeClock()
    app = create_pim_app(FAMILY_SEED, options=PimSimOptions(token_ttl=TWO_DAYS), clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", date_header=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", clock
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@asynccontextmanager
async def over_tcp(base: str) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated httpx client on the served simulator."""
    async with httpx.AsyncClient(base_url=base) as client:
        token = await get_token(client)
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


@pytest.mark.parametrize(("name", "condition", "expected"), CASES, ids=IDS)
async def test_updated_filter_agrees_with_the_listing(name, condition, expected):
    """Each updated operator compares the whole-second stamps the listing shows."""
    async with in_process() as (client, clock):
        shown = await seed_assets(client, clock)
        actual = await codes(client, [condition(shown)])
    assert shown["a2"] == shown["a3"] == "2024-05-31T09:23:34+00:00"
    assert expected == actual


async def test_resuming_from_the_highest_updated_reads_nothing_again():
    """A client resuming from the highest updated it saw gets an empty page, then another."""
    async with in_process() as (client, clock):
        shown = await seed_assets(client, clock)
        reads = await resume_reads(client, shown)
    assert [[], []] == reads


@pytest.mark.e2e
@pytest.mark.parametrize(("name", "condition", "expected"), CASES, ids=IDS)
async def test_served_updated_filter_agrees_with_the_listing(served, name, condition, expected):
    """Served over TCP, each updated operator compares the whole-second stamps it shows."""
    base, clock = served
    async with over_tcp(base) as client:
        shown = await seed_assets(client, clock)
        actual = await codes(client, [condition(shown)])
    assert shown["a2"] == shown["a3"] == "2024-05-31T09:23:34+00:00"
    assert expected == actual


@pytest.mark.e2e
async def test_served_resuming_from_the_highest_updated_reads_nothing_again(served):
    """Served over TCP, resuming from the highest updated seen gets an empty page, then another."""
    base, clock = served
    async with over_tcp(base) as client:
        shown = await seed_assets(client, clock)
        reads = await resume_reads(client, shown)
    assert [[], []] == reads
