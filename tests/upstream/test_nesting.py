"""Retries are bounded once per logical request: a token fetched inside an attempt never nests."""

from __future__ import annotations

import httpx
import pytest

from daemon.core.errors import PimUnavailable, SourceUnavailable
from daemon.settings.dam_sources import load_source_settings
from daemon.sources import build_source
from daemon.upstream.policy import ONE_SHOT_RETRY, RequestSpec, RetryPolicy
from daemon.upstream.session import Upstream
from tests.pim.helpers import make_client

from .test_session import KINDS

TOKEN_PATH = "/api/oauth/v1/token"
ATTEMPTS = 3


def failing(kind: str, request: httpx.Request) -> httpx.Response:
    """The way the token endpoint fails: no connection, or a transient status."""
    if kind == "refused":
        raise httpx.ConnectError("connection refused", request=request)
    return httpx.Response(503, text="down for maintenance")


@pytest.mark.parametrize("kind", ["refused", "503"])
async def test_a_pim_token_endpoint_that_always_fails_costs_attempts_not_their_square(kind):
    """The token fetch inside each attempt makes one try: 3 token requests, not 3 × 3."""
    tokens: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            tokens.append(request)
            return failing(kind, request)
        return httpx.Response(200, json={"code": "packshots", "labels": {}})

    client = make_client(handler, retry=RetryPolicy(attempts=ATTEMPTS, wait_initial=0, wait_max=0))
    async with client:
        with pytest.raises(PimUnavailable) as failed:
            await client.get_asset_family("packshots")
    assert ATTEMPTS == len(tokens)
    assert TOKEN_PATH == failed.value.endpoint


@pytest.mark.parametrize("kind", ["refused", "503"])
async def test_a_dam_oauth2_token_endpoint_that_always_fails_costs_attempts_only(kind):
    """A REST source's client-credentials fetch is one try per attempt of the listing."""
    tokens: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            tokens.append(request)
            return failing(kind, request)
        return httpx.Response(200, json={"items": []})

    settings = load_source_settings(
        {
            "name": "dam",
            "kind": "rest",
            "http": {"retry": {"attempts": ATTEMPTS, "wait_initial": 0, "wait_max": 0}},
            "rest": {
                "base_url": "http://dam.test",
                "changes_path": "/assets",
                "items_path": "items",
                "paging": {"style": "cursor", "param": "cursor", "cursor_path": "next"},
                "auth": {
                    "type": "oauth2",
                    "token_url": "http://dam.test/oauth/token",
                    "client_id": "dam-client",
                    "client_secret": "dam-secret",
                },
            },
        }
    )
    source = build_source("dam", settings, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(SourceUnavailable):
            await source.server_now()
    finally:
        await source.aclose()
    assert ATTEMPTS == len(tokens)


async def test_no_backoff_wait_carries_the_request_past_its_deadline():
    """A Retry-After longer than the deadline ends the request instead of waiting past it."""
    calls: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "30"})

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(attempts=5, deadline=1.0, wait_initial=0, wait_max=0, retry_after_max=60)
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://pim.test")
    upstream = Upstream("pim", client, KINDS, retry=policy, sleep=sleep)
    spec = RequestSpec(method="GET", url="/x", endpoint="/x")
    async with client:
        with pytest.raises(PimUnavailable):
            await upstream.request(spec, lambda response: response)
    assert (1, []) == (len(calls), sleeps)


def test_the_one_shot_policy_caps_a_configured_policy_field_by_field():
    """One-shot commands keep a stricter configured value and cap every looser one."""
    configured = RetryPolicy(
        attempts=6, deadline=120, wait_initial=0.1, wait_max=30, retry_after_max=60
    )
    capped = RetryPolicy(
        attempts=2, deadline=8, wait_initial=0.1, wait_max=2, retry_after_max=5, throttle_pause=1
    )
    strict = RetryPolicy(attempts=1, deadline=3, wait_initial=0.1, wait_max=1, retry_after_max=1)
    assert capped == configured.within(ONE_SHOT_RETRY)
    assert strict == strict.within(ONE_SHOT_RETRY)
    assert configured == configured.within(None)
