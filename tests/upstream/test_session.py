"""The shared upstream discipline: retries, limiter, pause on 429, auth refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from daemon.core.errors import (
    PimAuthError,
    PimError,
    PimProtocolError,
    PimThrottled,
    PimUnavailable,
    TransientError,
)
from daemon.upstream.policy import ErrorKinds, RequestSpec, RetryPolicy
from daemon.upstream.session import Upstream, read_json
from daemon.upstream.throttle import UpstreamLimiter, parse_retry_after

KINDS = ErrorKinds(
    unavailable=PimUnavailable, throttled=PimThrottled, auth=PimAuthError, protocol=PimProtocolError
)
FAST = RetryPolicy(attempts=4, deadline=10, wait_initial=0.0, wait_max=0.0, retry_after_max=0.05)


class Recorder:
    def __init__(self) -> None:
        self.finished: list[tuple[str, int | None]] = []
        self.retried: list[str] = []
        self.throttles: list[float | None] = []

    def request_finished(self, *, endpoint, status, **_):
        self.finished.append((endpoint, status))

    def request_retried(self, *, reason, **_):
        self.retried.append(reason)

    def throttled(self, *, retry_after, **_):
        self.throttles.append(retry_after)

    def bytes_streamed(self, **_):
        return None


def make(handler, *, retry=FAST, auth=None, limiter=None) -> tuple[Upstream, Recorder]:
    rec = Recorder()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://pim.test")
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    up = Upstream(
        "pim", client, KINDS, retry=retry, observer=rec, auth=auth, limiter=limiter, sleep=sleep
    )
    up.sleeps = sleeps  # type: ignore[attr-defined]
    return up, rec


def spec(**kw) -> RequestSpec:
    return RequestSpec(method="GET", url="/x/1?secret=s3", endpoint="/x/{id}", **kw)


async def test_retries_transient_statuses_then_succeeds():
    """503 and 502 are retried; the endpoint template, not the URL, is reported."""
    answers = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json={"ok": True})

    up, rec = make(handler)
    result = await up.request(spec(), lambda r: r.json())
    assert {"ok": True} == result
    assert [("/x/{id}", 503), ("/x/{id}", 502), ("/x/{id}", 200)] == rec.finished
    assert ["PimUnavailable", "PimUnavailable"] == rec.retried


async def test_gives_up_after_attempts_with_transient_error():
    """A persistent 500 ends in PimUnavailable after exactly `attempts` tries."""
    calls = 0

    def handler(request):
        nonlocal calls
        calls += 1
        return httpx.Response(500, text="<html>oops</html>")

    up, _ = make(handler)
    with pytest.raises(PimUnavailable) as info:
        await up.request(spec(), lambda r: r)
    assert 4 == calls
    assert 500 == info.value.status_code
    assert "GET /x/{id} -> 500" in str(info.value)
    assert "s3" not in str(info.value)


async def test_permanent_status_is_not_retried():
    """A 422 goes straight to the handler, once."""
    calls = 0

    def handler(request):
        nonlocal calls
        calls += 1
        return httpx.Response(422, json={"code": 422, "message": "bad"})

    up, _ = make(handler)
    status = await up.request(spec(), lambda r: r.status_code)
    assert (422, 1) == (status, calls)


async def test_transport_errors_and_timeouts_are_transient():
    """Connect errors and read timeouts are retried and end as PimUnavailable."""
    errors = iter([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])

    def handler(request):
        try:
            raise next(errors)
        except StopIteration:
            return httpx.Response(200, json=[])

    up, rec = make(handler)
    assert [] == await up.request(spec(), lambda r: r.json())
    assert [None, None, 200] == [s for _, s in rec.finished]


async def test_retry_after_is_honoured_clamped_and_pauses_the_upstream():
    """A 429 with Retry-After waits that long (clamped) and pauses every request."""
    answers = iter([429, 200])

    def handler(request):
        code = next(answers)
        return httpx.Response(code, headers={"Retry-After": "30"} if code == 429 else {})

    limiter = UpstreamLimiter(4)
    up, rec = make(handler, limiter=limiter)
    await up.request(spec(), lambda r: r)
    assert [30.0] == rec.throttles
    assert [0.05] == up.sleeps  # type: ignore[attr-defined]
    # the pause was clamped to retry_after_max as well
    assert limiter.paused_for <= 0.05


async def test_429_without_retry_after_uses_backoff_and_default_pause():
    """Akeneo may send 429 without Retry-After: jittered backoff, default pause."""
    answers = iter([429, 200])
    policy = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.0, throttle_pause=0.01)
    up, rec = make(lambda r: httpx.Response(next(answers)), retry=policy)
    await up.request(spec(), lambda r: r)
    assert [None] == rec.throttles


async def test_limiter_caps_requests_in_flight():
    """Never more than max_in_flight requests at once, whatever the number of tasks."""
    in_flight = 0
    peak = 0

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={})

    limiter = UpstreamLimiter(3)
    up, _ = make(handler, limiter=limiter)
    await asyncio.gather(*(up.request(spec(), lambda r: r) for _ in range(12)))
    assert 3 == peak
    assert 3 == limiter.peak_in_flight


async def test_pause_holds_new_requests():
    """While paused, a request waits before it is sent."""
    limiter = UpstreamLimiter(4)
    limiter.pause(0.05)
    up, _ = make(lambda r: httpx.Response(200), limiter=limiter)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await up.request(spec(), lambda r: r)
    assert loop.time() - started >= 0.04


async def test_body_factory_runs_for_every_attempt():
    """A retried request gets a fresh body, never a consumed stream."""
    seen: list[bytes] = []
    answers = iter([503, 201])

    def handler(request):
        seen.append(request.read())
        return httpx.Response(next(answers))

    built = 0

    def body() -> bytes:
        nonlocal built
        built += 1
        return b"payload"

    up, _ = make(handler)
    await up.request(RequestSpec(method="POST", url="/u", endpoint="/u", content=body), lambda r: r)
    assert (2, [b"payload", b"payload"]) == (built, seen)


class Auth:
    def __init__(self) -> None:
        self.token = "t1"
        self.refreshes = 0

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        self.refreshes += 1
        self.token = f"t{self.refreshes + 1}"
        return True


async def test_401_refreshes_once_and_retries():
    """An expired token is refreshed once, then the request is sent again."""

    def handler(request):
        if request.headers["Authorization"] == "Bearer t1":
            return httpx.Response(401, json={"code": 401, "message": "Authentication is required"})
        return httpx.Response(200, json={"ok": 1})

    auth = Auth()
    up, _ = make(handler, auth=auth)
    assert {"ok": 1} == await up.request(spec(), lambda r: r.json())
    assert 1 == auth.refreshes


async def test_401_after_refresh_is_an_auth_error():
    """A token refused again after a refresh ends in PimAuthError, not a loop."""
    auth = Auth()
    up, _ = make(lambda r: httpx.Response(401, json={"code": 401}), auth=auth)
    with pytest.raises(PimAuthError):
        await up.request(spec(), lambda r: r)
    assert 1 == auth.refreshes


async def test_read_json_rejects_html_with_endpoint_and_status():
    """An HTML error page is a protocol error naming the endpoint and status."""
    up, _ = make(lambda r: httpx.Response(200, html="<html>maintenance</html>"))
    s = spec()
    with pytest.raises(PimProtocolError) as info:
        await up.request(s, lambda r: read_json(up, s, r))
    assert "GET /x/{id} -> 200" in str(info.value)
    assert "text/html" in str(info.value)
    assert isinstance(info.value, PimError)
    assert not isinstance(info.value, TransientError)


async def test_read_json_rejects_truncated_json():
    """Truncated JSON is a protocol error, not a bare ValueError."""
    up, _ = make(
        lambda r: httpx.Response(
            200, content=b'{"a": [1, 2', headers={"content-type": "application/json"}
        )
    )
    s = spec()
    with pytest.raises(PimProtocolError, match="unreadable JSON"):
        await up.request(s, lambda r: read_json(up, s, r))


async def test_stream_opens_with_retries_and_yields_body():
    """A streamed download retries its opening and then yields chunks."""
    answers = iter([503, 200])
    up, _ = make(lambda r: httpx.Response(next(answers), content=b"x" * 1000))
    async with up.stream(spec()) as response:
        data = b"".join([c async for c in response.aiter_bytes()])
    assert 1000 == len(data)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("5", 5.0), ("-3", 0.0), ("1.5", 1.5), ("soon", None)],
)
def test_parse_retry_after_seconds(header, expected):
    """Delta-seconds are read, bad values ignored, negatives clamped to zero."""
    assert expected == parse_retry_after(header)


def test_parse_retry_after_http_date():
    """An HTTP-date is turned into seconds from now."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert 20.0 == parse_retry_after(header, now=now)
