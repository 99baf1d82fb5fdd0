"""Fair use, seeded faults, dropped connections, run-time options and stats of the simulator."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from daemon.sim.pim.options import PimSimOptions
from daemon.sim.pim.pim_app import create_pim_app
from tests.sim.test_pim_support import API, sim

FAIR_USE = {"code": 429, "message": "You have exceeded the limit of API requests per second."}


async def test_fifth_concurrent_request_on_one_token_gets_429():
    """With latency, the 5th concurrent request on a token is refused with Retry-After."""
    async with sim(latency=0.2, retry_after=3) as (client, _):
        responses = await asyncio.gather(*[client.get(f"{API}/locales") for _ in range(5)])
        stats = (await client.get("/_sim/stats")).json()
    statuses = sorted(r.status_code for r in responses)
    refused = next(r for r in responses if r.status_code == 429)
    assert [200, 200, 200, 200, 429] == statuses
    assert ("3", FAIR_USE) == (refused.headers["retry-after"], refused.json())
    assert (5, 5, 0) == (
        stats["max_in_flight"],
        stats["max_in_flight_per_token"],
        stats["in_flight"],
    )


async def statuses_for(rng_seed: int) -> list[int]:
    async with sim(auth=False, fault_rate=0.5, rng_seed=rng_seed) as (client, _):
        return [(await client.get(API)).status_code for _ in range(30)]


async def test_seeded_faults_are_reproducible():
    """The same rng_seed gives the same fault sequence, drawn from fault_statuses."""
    first, second, other = await statuses_for(7), await statuses_for(7), await statuses_for(8)
    assert first == second
    assert first != other
    assert {200, 500, 503, 429} >= set(first)
    assert len({s for s in first if s != 200}) >= 2


async def test_dropped_connection_is_a_transport_error_for_httpx():
    """A drop surfaces as httpx.RemoteProtocolError (a TransportError) and is counted."""
    async with sim(auth=False, drop_rate=1.0) as (client, _):
        with pytest.raises(httpx.TransportError):
            await client.get(f"{API}/locales")
        stats = (await client.get("/_sim/stats")).json()
    assert {"dropped": 1} == stats["requests"][f"GET {API}/locales"]


async def test_faults_never_hit_sim_endpoints_and_options_change_at_run_time():
    """PUT /_sim/options switches faults on and off; /_sim calls stay healthy."""
    async with sim() as (client, _):
        changed = await client.put(
            "/_sim/options", json={"fault_rate": 1.0, "fault_statuses": [503]}
        )
        faulted = await client.get(f"{API}/locales")
        helper = await client.get("/_sim/stats")
        await client.put("/_sim/options", json={"fault_rate": 0.0})
        healthy = await client.get(f"{API}/locales")
        bad = await client.put("/_sim/options", json={"nope": 1})
        invalid = await client.put("/_sim/options", json={"fault_rate": 2})
    assert (200, [503]) == (changed.status_code, changed.json()["fault_statuses"])
    assert (503, 200, 200) == (faulted.status_code, helper.status_code, healthy.status_code)
    assert (422, 422) == (bad.status_code, invalid.status_code)


async def test_stats_count_requests_by_endpoint_template_and_reset():
    """Stats group requests by method and route template and can be reset."""
    seed = {
        "asset_families": [
            {
                "code": "f",
                "attributes": [{"code": "t", "type": "text"}],
                "assets": [{"code": "a1"}, {"code": "a2"}],
            }
        ]
    }
    async with sim(seed) as (client, _):
        await client.get(f"{API}/asset-families/f/assets/a1")
        await client.get(f"{API}/asset-families/f/assets/nope")
        stats = (await client.get("/_sim/stats")).json()
        await client.post("/_sim/reset-stats")
        after = (await client.get("/_sim/stats")).json()
    assert {"200": 1, "404": 1} == stats["requests"][
        f"GET {API}/asset-families/{{family}}/assets/{{code}}"
    ]
    assert {"200": 1} == stats["requests"]["POST /api/oauth/v1/token"]
    assert {"f": 2} == stats["assets"]
    assert {} == after["requests"]


async def test_unknown_route_and_method_use_akeneo_bodies():
    """404 and 405 from routing come back in the {code, message} shape."""
    async with sim() as (client, _):
        missing = await client.get(f"{API}/nothing-here")
        method = await client.post(f"{API}/asset-families", json={})
    assert (404, 405) == (missing.status_code, method.status_code)
    assert method.json()["message"].startswith(f'No route found for "POST {API}/asset-families"')


def test_options_are_validated():
    """Negative rates or non-error fault statuses are refused at construction."""
    with pytest.raises(ValueError, match="fault_rate"):
        PimSimOptions(fault_rate=-1)
    with pytest.raises(ValueError, match="fault_statuses"):
        PimSimOptions(fault_statuses=(200,))


def test_create_pim_app_defaults():
    """Without a seed the app has the demo user, en_US/fr_FR and the ecommerce channel."""
    app = create_pim_app()
    state = app.state.pim
    assert ("demo_client", ["en_US", "fr_FR"], ["ecommerce"], {}) == (
        state.users[0].client_id,
        state.locales,
        [c["code"] for c in state.channels],
        state.families,
    )
    assert "demo_secret" not in repr(state.users[0])


@pytest.mark.e2e
def test_drop_over_tcp_closes_the_connection_mid_response():
    """Served by uvicorn, a drop reaches httpx as RemoteProtocolError (a TransportError)."""
    import threading
    import time

    import uvicorn

    app = create_pim_app(options=PimSimOptions(drop_rate=1.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}{API}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_pim_command_refuses_bad_options():
    """The CLI command reports an impossible fault rate as a bad parameter."""
    from click.testing import CliRunner

    from daemon.sim.pim.pim_app import pim_command

    result = CliRunner().invoke(pim_command, ["--fault-rate", "2"])
    assert 2 == result.exit_code
    assert "fault_rate" in result.output
