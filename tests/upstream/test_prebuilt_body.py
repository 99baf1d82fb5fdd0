"""A body built once (``RequestSpec.body``): the same bytes on every attempt, the total deadline."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from daemon.core.errors import PimUnavailable
from daemon.upstream.policy import AttemptLimits, RequestSpec, RetryPolicy
from daemon.upstream.session import Upstream
from tests.upstream.test_session import FAST, KINDS, Recorder

BODY = '[{"code":"a","values":{"title":[{"locale":null,"channel":null,"data":"é"}]}}]'.encode()


def body_spec() -> RequestSpec:
    return RequestSpec(
        method="PATCH",
        url="/assets",
        endpoint="/assets",
        headers={"Content-Type": "application/json"},
        body=BODY,
    )


async def test_every_attempt_sends_the_same_bytes():
    """A retry resends the body as built, with its length and content type."""
    seen: list[tuple[bytes, str, str]] = []
    answers = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            (request.content, request.headers["content-type"], request.headers["content-length"])
        )
        return httpx.Response(next(answers))

    rec = Recorder()
    sent: list[int] = []
    rec.request_finished = lambda *, bytes_sent, **_: sent.append(bytes_sent)  # type: ignore[method-assign]
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://pim.test")

    async def no_sleep(_: float) -> None:
        return None

    up = Upstream("pim", client, KINDS, retry=FAST, observer=rec, sleep=no_sleep)
    assert 200 == await up.request(body_spec(), lambda r: r.status_code)
    assert [(BODY, "application/json", str(len(BODY)))] * 3 == seen
    assert [len(BODY)] * 3 == sent


async def test_a_built_body_has_the_total_deadline_not_the_transfer_one():
    """Bytes in memory are no streamed upload: an upstream that never answers times out."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://pim.test")
    up = Upstream(
        "pim",
        client,
        KINDS,
        retry=RetryPolicy(attempts=1),
        limits=AttemptLimits(total=0.05, transfer=3600.0, key="pim.http"),
    )
    with pytest.raises(PimUnavailable, match=r"limit: pim\.http\.timeouts\.total"):
        await asyncio.wait_for(up.request(body_spec(), lambda r: r), timeout=30)
