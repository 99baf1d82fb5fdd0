"""The DAM simulator's event feed: delivery, retries, fault switches, limits and options."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app, dam_command
from daemon.sim.dam.event_cli import feed_options
from daemon.sim.dam.event_options import EventFeedOptions
from tests.sim.test_dam_helpers import Clock


class Receiver:
    """An httpx MockTransport receiver answering from a script of statuses (then 200)."""

    def __init__(self, statuses: list[int] | None = None, always: int | None = None) -> None:
        self.statuses = list(statuses or [])
        self.always = always
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.always is not None:
            return httpx.Response(self.always)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def ids(self) -> list[str]:
        return [json.loads(r.content)["data"]["id"] for r in self.requests]


def _app(receiver: Receiver, assets: int = 30, **event_options: Any) -> Starlette:
    options = {"webhook_url": "http://receiver.test/hook", "retry_base": 0.0, **event_options}
    return create_dam_app(
        DamSimOptions(assets=assets),
        clock=Clock(),
        events=EventFeedOptions(**options),
        event_transport=httpx.MockTransport(receiver),
    )


def _mutate_each(app: Starlette, count: int) -> None:
    """Change assets a-000001.. one by one (one event each, in this order)."""
    sim = app.state.dam
    for num in range(1, count + 1):
        sim.store.mutate(num, sim.now_us(), metadata={"sku": f"S{num}"})


async def test_every_change_arrives_once_in_order():
    """Without faults and with one sender, every change arrives once, in the order it happened."""
    receiver = Receiver()
    app = _app(receiver, concurrency=1)
    async with app.state.events as feed:
        _mutate_each(app, 20)
        await feed.wait_idle(10)
    assert [f"a-{n:06d}" for n in range(1, 21)] == receiver.ids()
    stats = feed.stats.as_dict()
    assert (20, {"webhook": 20}, {"webhook": 20}) == (
        stats["emitted"],
        stats["attempts"],
        stats["delivered"],
    )


async def test_changes_before_start_wait_in_the_queue():
    """Changes noticed before the feed runs are sent once it starts."""
    receiver = Receiver()
    app = _app(receiver)
    _mutate_each(app, 5)
    assert [] == receiver.requests
    async with app.state.events as feed:
        await feed.wait_idle(10)
    assert 5 == len(receiver.requests)


async def test_5xx_is_retried_with_the_same_id_and_a_fresh_signature():
    """A 503 then a 500 are retried; the third attempt succeeds with the same webhook-id."""
    receiver = Receiver(statuses=[503, 500])
    app = _app(receiver, concurrency=1)
    async with app.state.events as feed:
        _mutate_each(app, 1)
        await feed.wait_idle(10)
    assert 3 == len(receiver.requests)
    assert 1 == len({r.headers["webhook-id"] for r in receiver.requests})
    assert {receiver.requests[0].content} == {r.content for r in receiver.requests}
    assert ({"webhook": 3}, {"webhook": 1}, {}) == (
        dict(feed.stats.attempts),
        dict(feed.stats.delivered),
        dict(feed.stats.failed),
    )


async def test_retries_stop_at_the_bound():
    """An endpoint that always fails gets max_attempts attempts, then the event is given up."""
    receiver = Receiver(always=500)
    app = _app(receiver, max_attempts=4)
    async with app.state.events as feed:
        _mutate_each(app, 2)
        await feed.wait_idle(10)
    assert 8 == len(receiver.requests)
    assert ({"webhook": 8}, {}, {"webhook": 2}) == (
        dict(feed.stats.attempts),
        dict(feed.stats.delivered),
        dict(feed.stats.failed),
    )


async def test_backoff_waits_between_attempts():
    """With retry_base, the attempts are spaced out (exponential, jitter at most halves it)."""
    receiver = Receiver(statuses=[500, 500])
    app = _app(receiver, retry_base=0.05, concurrency=1)
    loop = asyncio.get_running_loop()
    async with app.state.events as feed:
        start = loop.time()
        _mutate_each(app, 1)
        await feed.wait_idle(10)
        elapsed = loop.time() - start
    assert 3 == len(receiver.requests)
    assert elapsed >= 0.025 + 0.05  # 0.05 * 2**0 / 2 + 0.05 * 2**1 / 2 at least


def _fault_run_counts(seed: int, **faults: Any) -> tuple[dict[str, Any], list[str]]:
    async def run() -> tuple[dict[str, Any], list[str]]:
        receiver = Receiver()
        app = _app(receiver, assets=300, fault_seed=seed, **faults)
        async with app.state.events as feed:
            _mutate_each(app, 200)
            await feed.wait_idle(20)
        return feed.stats.as_dict(), receiver.ids()

    return asyncio.run(run())


@pytest.mark.parametrize("seed", [1, 2])
def test_fault_counts_are_deterministic_for_a_seed(seed):
    """Drop, duplicate and delay draw from the seed: the same seed gives the same counts."""
    faults = {"drop": 0.1, "duplicate": 0.1, "delay": 0.1, "delay_max": 0.02}
    first, first_ids = _fault_run_counts(seed, **faults)
    second, second_ids = _fault_run_counts(seed, **faults)
    keys = ("emitted", "dropped", "duplicated", "delayed")
    assert [first[k] for k in keys] == [second[k] for k in keys]
    assert sorted(first_ids) == sorted(second_ids)
    assert 200 == first["emitted"]
    assert 5 <= first["dropped"] <= 40 and 5 <= first["duplicated"] <= 40
    assert 200 - first["dropped"] + first["duplicated"] == len(first_ids)
    assert first["delivered"]["webhook"] == len(first_ids)
    lost = {f"a-{n:06d}" for n in range(1, 201)} - set(first_ids)
    assert first["dropped"] == len(lost)


def test_drop_everything_and_duplicate_everything():
    """drop=1 sends nothing; duplicate=1 sends every event twice with identical bytes."""
    dropped, dropped_ids = _fault_run_counts(0, drop=1.0)
    doubled, doubled_ids = _fault_run_counts(0, duplicate=1.0)
    assert (200, 200, []) == (dropped["emitted"], dropped["dropped"], dropped_ids)
    assert 200 == doubled["duplicated"]
    assert sorted(2 * [f"a-{n:06d}" for n in range(1, 201)]) == sorted(doubled_ids)


async def test_reorder_shuffles_within_windows_and_loses_nothing():
    """reorder_window=5 releases shuffled groups of 5: same events, other order, counted."""
    receiver = Receiver()
    app = _app(receiver, reorder_window=5, concurrency=1, reorder_hold=30)
    async with app.state.events as feed:
        _mutate_each(app, 20)
        await feed.wait_idle(10)
    ids = receiver.ids()
    expected = [f"a-{n:06d}" for n in range(1, 21)]
    assert sorted(expected) == sorted(ids)
    assert expected != ids
    for group in range(4):  # each group of five stays within its window
        assert sorted(expected[group * 5 : group * 5 + 5]) == sorted(ids[group * 5 : group * 5 + 5])
    moved = sum(1 for a, b in zip(expected, ids, strict=True) if a != b)
    assert moved == feed.stats.reordered


async def test_incomplete_reorder_window_is_released_after_the_hold():
    """An incomplete window does not hold its events forever."""
    receiver = Receiver()
    app = _app(receiver, reorder_window=10, reorder_hold=0.05)
    async with app.state.events as feed:
        _mutate_each(app, 3)
        await feed.wait_idle(10)
    assert 3 == len(receiver.requests)


async def test_delay_holds_events_back():
    """delay=1 holds every event up to delay_max; all of them still arrive."""
    receiver = Receiver()
    app = _app(receiver, delay=1.0, delay_max=0.05)
    async with app.state.events as feed:
        _mutate_each(app, 10)
        await asyncio.sleep(0)
        assert 10 == feed.stats.delayed
        await feed.wait_idle(10)
    assert 10 == len(receiver.requests)


async def test_full_queue_counts_overflow_and_never_blocks():
    """Past queue_limit, events are counted as overflowed; the mutation returns at once."""
    receiver = Receiver()
    app = _app(receiver, queue_limit=5)
    _mutate_each(app, 8)  # the feed is not started: nothing drains
    assert (8, 3, 5) == (app.state.events.stats.emitted, app.state.events.stats.overflowed, 5)
    async with app.state.events as feed:
        await feed.wait_idle(10)
    assert 5 == len(receiver.requests)


async def test_stats_endpoint():
    """GET /_sim/events/stats shows the counters; without a feed it is a 404."""
    receiver = Receiver()
    app = _app(receiver)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    plain = create_dam_app(DamSimOptions(assets=5))
    plain_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=plain), base_url="http://localhost"
    )
    async with client, plain_client, app.state.events as feed:
        await client.post("/_sim/tick")
        await feed.wait_idle(10)
        stats = (await client.get("/_sim/events/stats")).json()
        missing = await plain_client.get("/_sim/events/stats")
        no_cert = await plain_client.get("/_sim/sns/cert.pem")
    assert (13, {"webhook": 13}, 0) == (stats["emitted"], stats["delivered"], stats["pending"])
    assert (404, 404) == (missing.status_code, no_cert.status_code)


async def test_webhooks_reach_a_receiver_on_loopback():
    """Served by uvicorn on a real socket, a receiver gets the ticks' events over TCP."""
    received: list[bytes] = []

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=200)

    receiver_app = Starlette(routes=[Route("/webhooks/dam", hook, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(receiver_app, log_level="error", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    app = create_dam_app(
        DamSimOptions(assets=20),
        events=EventFeedOptions(webhook_url=f"http://127.0.0.1:{port}/webhooks/dam"),
    )
    try:
        async with app.state.events as feed:
            for _ in range(3):
                app.state.dam.store.tick(app.state.dam.now_us())
            await feed.wait_idle(10)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 5)
        sock.close()
    assert 3 * 13 == len(received)
    assert {"webhook": 39} == dict(feed.stats.delivered)


async def test_connection_refused_is_a_failed_attempt():
    """A receiver that is not listening makes transport errors, retried then given up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    app = create_dam_app(
        DamSimOptions(assets=5),
        events=EventFeedOptions(
            webhook_url=f"http://127.0.0.1:{port}/", max_attempts=2, retry_base=0.0
        ),
    )
    async with app.state.events as feed:
        _mutate_each(app, 1)
        await feed.wait_idle(10)
    assert ({"webhook": 2}, {"webhook": 1}) == (dict(feed.stats.attempts), dict(feed.stats.failed))


def test_cli_event_options_build_the_feed_options():
    """The `damsync sim dam` flags become EventFeedOptions; none of them means no feed."""
    ctx = dam_command.make_context(
        "dam",
        [
            "--webhook-url",
            "http://127.0.0.1:9181/webhooks/demo",
            "--webhook-style",
            "bynder",
            "--sns-signature-version",
            "2",
            "--event-drop",
            "0.1",
            "--event-reorder",
            "4",
            "--event-seed",
            "9",
        ],
    )
    options = feed_options({k: v for k, v in ctx.params.items() if k not in _SERVER_KEYS})
    plain = dam_command.make_context("dam", [])
    assert options is not None
    assert ("bynder", "2", 0.1, 4, 9) == (
        options.style,
        options.sns_version,
        options.drop,
        options.reorder_window,
        options.fault_seed,
    )
    assert feed_options({k: v for k, v in plain.params.items() if k not in _SERVER_KEYS}) is None


def test_cli_refuses_bad_event_options():
    """A bad combination is a usage error naming the key."""
    result = CliRunner().invoke(dam_command, ["--amqp-url", "amqp://guest:guest@127.0.0.1/"])
    assert 2 == result.exit_code
    assert "dam_sim.events.amqp_routing_key" in result.output
    assert "guest:guest" not in result.output


_SERVER_KEYS = {
    "host",
    "port",
    "assets",
    "seed",
    "tick",
    "latency",
    "fault_rate",
    "rng_seed",
    "localized_files",
}
