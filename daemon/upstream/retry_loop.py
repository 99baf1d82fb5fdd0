"""
The retry loop of one upstream: tenacity's rules, paid for only when an attempt fails.

The rules are those :class:`daemon.upstream.session.Upstream` always had with
``tenacity.AsyncRetrying(retry=retry_if_exception_type(TransientError),
stop=stop_after_attempt(n) | stop_before_delay(deadline), wait=..., reraise=True)``:

- only a :class:`TransientError` is retried; anything else (and a ``BaseException``) leaves at
  once, the same object;
- after a failed attempt the wait is computed first (a clamped ``Retry-After``, else full-jitter
  exponential backoff, tenacity's ``wait_random_exponential``), then the loop stops when that
  was the last attempt or when the time since the first attempt began plus the wait reaches the
  deadline: a backoff that would end past the deadline is not waited, and the last error is
  raised as it is;
- before each wait the retry is reported (observer and an ``http.retry`` log line).

tenacity built an ``AsyncRetrying`` per request and ran its action chain (with a coroutine check
of each callback) around every attempt, successful ones included: a few percent of the CPU of a
media pass, which makes two requests per asset. Here a request that succeeds at once costs a
``try``; tenacity itself is imported, and its state (:class:`tenacity.RetryCallState`, so the
wait and the hooks read what they always read) created, at the first failure.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from daemon.core.errors import TransientError
from daemon.core.lazy_log import LazyLogger
from daemon.upstream.policy import RequestObserver, RequestSpec, RetryPolicy, T

if TYPE_CHECKING:
    from tenacity import RetryCallState

#: The logger the retries always logged to.
log = LazyLogger("daemon.upstream.session")


def backoff_wait(policy: RetryPolicy, state: RetryCallState) -> float:
    """Seconds to wait after the failed attempt in ``state``: its ``Retry-After``, clamped, or
    full-jitter exponential backoff."""
    exc = state.outcome.exception() if state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return float(min(retry_after, policy.retry_after_max))
    from tenacity import wait_random_exponential  # a retry is rare: imported when one happens

    backoff = wait_random_exponential(multiplier=policy.wait_initial, max=policy.wait_max)
    return float(backoff(state))


def _report(
    name: str,
    spec: RequestSpec,
    observer: RequestObserver,
    state: RetryCallState,
    exc: BaseException,
) -> None:
    observer.request_retried(
        upstream=name, method=spec.method, endpoint=spec.endpoint, reason=type(exc).__name__
    )
    log.info(
        "http.retry",
        upstream=name,
        method=spec.method,
        endpoint=spec.endpoint,
        attempt=state.attempt_number,
        error=str(exc),
        wait_s=round(state.upcoming_sleep, 3),
    )


async def run_with_retries(
    name: str,
    spec: RequestSpec,
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    attempts: int,
    observer: RequestObserver,
    sleep: Callable[[float], Awaitable[None]],
) -> T:
    """
    Run ``attempt`` until it returns, retrying transient failures.

    Args:
        name: The upstream's name, for the observer and the log.
        spec: The request (named in reports).
        attempt: One attempt; called afresh for every try.
        policy: The deadline and the waits.
        attempts: The most tries (1 inside another request's attempt).
        observer: Told of every retry.
        sleep: Waits the backoff.

    Returns:
        The first successful attempt's result.
    """
    started = time.monotonic()
    state: RetryCallState | None = None
    while True:
        try:
            return await attempt()
        except TransientError as exc:
            if state is None:
                from tenacity import RetryCallState

                state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
                state.start_time = started
            state.set_exception((type(exc), exc, exc.__traceback__))
            state.upcoming_sleep = backoff_wait(policy, state)
            since_start = state.seconds_since_start or 0.0
            if (
                state.attempt_number >= attempts
                or since_start + state.upcoming_sleep >= policy.deadline
            ):
                raise
            state.idle_for += state.upcoming_sleep
            _report(name, spec, observer, state, exc)
        # Out of the except block: the wait does not hold the error as the next one's context.
        await sleep(state.upcoming_sleep)
        state.prepare_for_next_attempt()


__all__ = ["backoff_wait", "run_with_retries"]
