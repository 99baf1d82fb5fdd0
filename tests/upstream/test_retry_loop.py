"""The retry loop alone: tenacity's rules (what is retried, when it stops, what it waits)."""

from __future__ import annotations

import pytest

from daemon.core.errors import PimRejected, PimUnavailable
from daemon.upstream.policy import RequestSpec, RetryPolicy
from daemon.upstream.retry_loop import run_with_retries

SPEC = RequestSpec(method="GET", url="/x", endpoint="/x")


class Observer:
    def __init__(self) -> None:
        self.retried: list[str] = []

    def request_finished(self, **_):
        return None

    def request_retried(self, *, reason, **_):
        self.retried.append(reason)

    def throttled(self, **_):
        return None

    def bytes_streamed(self, **_):
        return None


class Script:
    """Fails with the given errors, then answers ``done``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def unavailable(retry_after: float | None = None) -> PimUnavailable:
    error = PimUnavailable("transient HTTP 503", endpoint="/x", method="GET", status_code=503)
    error.retry_after = retry_after
    return error


async def run(attempt: Script, policy: RetryPolicy, attempts: int | None = None):
    sleeps: list[float] = []
    observer = Observer()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    result = await run_with_retries(
        "pim",
        SPEC,
        attempt,
        policy=policy,
        attempts=policy.attempts if attempts is None else attempts,
        observer=observer,
        sleep=sleep,
    )
    return result, sleeps, observer


async def test_a_first_success_neither_waits_nor_reports():
    script = Script()
    result, sleeps, observer = await run(script, RetryPolicy())
    assert (result, script.calls, sleeps, observer.retried) == ("done", 1, [], [])


async def test_transient_failures_are_retried_with_their_retry_after_clamped():
    script = Script(unavailable(2.0), unavailable(90.0))
    result, sleeps, observer = await run(script, RetryPolicy(retry_after_max=5.0))
    assert (result, script.calls, sleeps) == ("done", 3, [2.0, 5.0])
    assert observer.retried == ["PimUnavailable", "PimUnavailable"]


async def test_backoff_is_full_jitter_exponential_within_its_cap():
    script = Script(*(unavailable() for _ in range(5)))
    policy = RetryPolicy(attempts=6, deadline=1000, wait_initial=1.0, wait_max=4.0)
    _, sleeps, _ = await run(script, policy)
    caps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == 5
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


async def test_the_last_attempt_raises_the_same_error_object():
    errors = [unavailable(0.0) for _ in range(3)]
    script = Script(*errors)
    with pytest.raises(PimUnavailable) as raised:
        await run(script, RetryPolicy(attempts=3))
    assert raised.value is errors[-1]
    assert script.calls == 3


async def test_a_wait_that_would_end_past_the_deadline_is_not_waited():
    script = Script(unavailable(30.0), unavailable(0.0))
    with pytest.raises(PimUnavailable):
        await run(script, RetryPolicy(attempts=6, deadline=10.0, retry_after_max=60.0))
    assert script.calls == 1


async def test_one_attempt_inside_another_request_makes_a_single_try():
    script = Script(unavailable(0.0))
    with pytest.raises(PimUnavailable):
        await run(script, RetryPolicy(attempts=6), attempts=1)
    assert script.calls == 1


async def test_permanent_errors_leave_at_once():
    rejected = PimRejected("no", endpoint="/x", method="GET", status_code=422)
    script = Script(rejected)
    with pytest.raises(PimRejected) as raised:
        await run(script, RetryPolicy())
    assert raised.value is rejected and script.calls == 1
