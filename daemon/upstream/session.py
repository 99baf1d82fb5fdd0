"""
The HTTP discipline every upstream shares: the PIM client and every DAM source use it.

One :class:`Upstream` per remote system owns

- one long-lived ``httpx.AsyncClient`` with explicit connect/read/write/pool timeouts;
- per-attempt limits (:class:`AttemptLimits`): a total deadline for each attempt, its answer
  body included (httpx's timeouts are per read, so a trickling upstream never trips them), a
  deadline for streamed transfers, and a cap on the bytes of a body read into memory;
- one :class:`UpstreamLimiter`: at most N requests in flight, an optional requests/second cap,
  and a *pause* that a 429 sets for the whole upstream, not for the one task that saw it;
- the retry policy: only transient failures (connect errors, timeouts, 408/429/5xx), exponential
  backoff with full jitter (tenacity's ``wait_random_exponential``), a clamped ``Retry-After``,
  an attempt cap and a total deadline (no attempt starts, and no backoff wait ends, past it);
  the request is rebuilt for every attempt, so a file body is re-opened and a generator is
  never reused (the loop: :mod:`daemon.upstream.retry_loop`);
- the client tuned once (:mod:`daemon.upstream.client_tuning`): cookies read only from answers
  that set one, httpcore's streams on asyncio's transports;
- retries once per logical request, never nested: a request made while an attempt runs (the
  token fetch of the auth hook) makes a single try, and its failure is that attempt's failure,
  which the outer loop counts and retries. So an always-failing token endpoint costs
  ``attempts`` tries, not ``attempts²``, and the outer deadline bounds the whole;
- optional auth (:class:`UpstreamAuth`): credentials added per attempt, one refresh on a 401,
  and only to URLs on the configured origin (:func:`daemon.upstream.origin.same_origin`);
- the observation hook (:class:`RequestObserver`): every attempt reported with its endpoint
  *template*, never the raw URL, so that metrics have bounded labels and no secret leaks.

Errors are made by the adapter's :class:`ErrorKinds`, so a PIM failure is a ``PimError`` and a
DAM failure a ``SourceError``, each translated at this single boundary with ``from exc``. An
attempt that got no answer names the URL (origin and endpoint template) and the cause in words
(:mod:`daemon.upstream.causes`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import httpx

from daemon.core.errors import UpstreamError, UpstreamUnavailableMixin
from daemon.core.json_limits import loads_bounded
from daemon.upstream.bodies import BodyTooLargeError, DeadlineStream, read_capped
from daemon.upstream.causes import late_words, request_url, transport_cause
from daemon.upstream.client_tuning import tune_client
from daemon.upstream.origin import same_origin
from daemon.upstream.policy import (
    TRANSIENT_STATUSES,
    AttemptLimits,
    ErrorKinds,
    NullObserver,
    RequestObserver,
    RequestSpec,
    RetryPolicy,
    T,
    UpstreamAuth,
)
from daemon.upstream.retry_loop import run_with_retries
from daemon.upstream.targets import RequestTargets
from daemon.upstream.throttle import UpstreamLimiter, parse_retry_after

#: True while an attempt runs in this task (and the tasks it starts): a request made then is
#: part of that attempt, so it makes one try instead of nesting its own retries.
_IN_ATTEMPT: ContextVar[bool] = ContextVar("damsync_upstream_in_attempt", default=False)


def _body_size(request: httpx.Request) -> int:
    """The request body's size: a body held in memory is measured, not looked up in headers."""
    content = getattr(request, "_content", None)
    if isinstance(content, bytes) and content:
        return len(content)
    return int(request.headers.get("content-length") or 0)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class Upstream:
    """
    One remote system: its client, limiter, retries, auth and observer.

    Args:
        name: ``pim`` or the source name; used in metrics and logs.
        client: The long-lived client (the caller owns its configuration).
        errors: The adapter's error classes.
        limiter: Shared limiter; a new one with 4 slots by default.
        retry: Retry policy.
        observer: Metrics hook.
        auth: Credentials, or ``None`` for unauthenticated upstreams.
        sleep: Injected for tests; defaults to ``asyncio.sleep``.
        limits: Per-attempt deadlines and the body cap (defaults: 120 s, 3600 s, 32 MiB).
        credential_params: Query parameters that carry credentials (an API key), refused on
            another origin like the auth headers.
    """

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        errors: ErrorKinds,
        *,
        limiter: UpstreamLimiter | None = None,
        retry: RetryPolicy | None = None,
        observer: RequestObserver | None = None,
        auth: UpstreamAuth | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        limits: AttemptLimits | None = None,
        credential_params: Collection[str] = (),
    ) -> None:
        self.name = name
        self.client = client
        self.errors = errors
        self.limiter = limiter or UpstreamLimiter()
        self.retry = retry or RetryPolicy()
        self.observer: RequestObserver = observer or NullObserver()
        self.auth = auth
        self._sleep = sleep or asyncio.sleep
        self.limits = limits or AttemptLimits()
        self.credential_params = frozenset(credential_params)
        self._targets = RequestTargets(client)
        tune_client(client)

    def __repr__(self) -> str:
        return f"Upstream(name={self.name!r}, base_url={str(self.client.base_url)!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- one attempt ----------------------------------------------------------------------

    async def _build(self, spec: RequestSpec) -> httpx.Request:
        headers = dict(spec.headers)
        with_auth = spec.authenticated and self.auth is not None
        in_query = not self.credential_params.isdisjoint(spec.params or {})
        base = self.client.base_url
        # A path on the base comes merged from the cache; any other URL is parsed once here,
        # for the origin check and the request alike.
        merged = spec.url if isinstance(spec.url, httpx.URL) else self._targets(spec.url)
        target = httpx.URL(merged) if isinstance(merged, str) else merged
        # Defence in depth: callers decide per URL, but no code path may send our
        # credentials to another origin (another port, or https -> http, is one).
        check = spec.url if merged is target else target
        if (with_auth or in_query) and base.host and not same_origin(base, check):
            raise self.errors.protocol(
                "refusing to send credentials to another origin than the configured one",
                endpoint=spec.endpoint,
                method=spec.method,
            )
        if with_auth and self.auth is not None:
            headers.update(await self.auth.headers())
        kwargs: dict[str, Any] = {"params": spec.params, "headers": headers}
        if spec.json is not None:
            kwargs["json"] = spec.json
        if spec.content is not None:
            kwargs["content"] = spec.content()
        if spec.body is not None:
            kwargs["content"] = spec.body
        if spec.files is not None:
            kwargs["files"] = spec.files()
        if spec.data is not None:
            kwargs["data"] = spec.data
        return self.client.build_request(spec.method, target, **kwargs)

    def _transient(
        self, spec: RequestSpec, message: str, *, status: int | None, body: str = ""
    ) -> UpstreamError:
        kind = self.errors.throttled if status == 429 else self.errors.unavailable
        return kind(
            message, endpoint=spec.endpoint, method=spec.method, status_code=status, body=body
        )

    def _deadline(self, spec: RequestSpec, *, stream: bool) -> tuple[float, str]:
        """The seconds this attempt may take and the key that sets them."""
        key = self.limits.key
        if stream or spec.content is not None or spec.files is not None:
            return self.limits.transfer, f"{key}.timeouts.transfer"
        return self.limits.total, f"{key}.timeouts.total"

    def _unanswered(self, spec: RequestSpec, request: httpx.Request, cause: str) -> UpstreamError:
        url = request_url(request.url, spec.endpoint, self.client.base_url)
        return self._transient(spec, f"request to {url} failed: {cause}", status=None)

    def _too_large(
        self, spec: RequestSpec, status: int | None, exc: BodyTooLargeError
    ) -> UpstreamError:
        # A protocol error, so not retried: the same request would get the same answer.
        return self.errors.protocol(
            f"{exc} (limit: {self.limits.key}.max_body_bytes)",
            endpoint=spec.endpoint,
            method=spec.method,
            status_code=status,
        )

    async def _send_once(self, spec: RequestSpec, *, stream: bool) -> httpx.Response:
        """Send one attempt; 401 gets one refresh. Transient failures raise; others return."""
        refreshed = False
        while True:
            request = await self._build(spec)
            sent = _body_size(request)
            started = time.perf_counter()
            status: int | None = None
            received = 0
            async with self.limiter.slot():
                seconds, key = self._deadline(spec, stream=stream)
                deadline = asyncio.get_running_loop().time() + seconds
                response: httpx.Response | None = None
                try:
                    async with asyncio.timeout_at(deadline):
                        response = await self.client.send(request, stream=True)
                        status = response.status_code
                        if not stream or status >= 400:
                            received = await read_capped(response, self.limits.max_body_bytes)
                except BodyTooLargeError as exc:
                    raise self._too_large(spec, status, exc) from exc
                except TimeoutError as exc:
                    if response is not None:
                        await response.aclose()
                    cause = f"timeout, {late_words(seconds, key)}"
                    raise self._unanswered(spec, request, cause) from exc
                except httpx.TransportError as exc:
                    raise self._unanswered(spec, request, transport_cause(exc)) from exc
                finally:
                    self.observer.request_finished(
                        upstream=self.name,
                        method=spec.method,
                        endpoint=spec.endpoint,
                        status=status,
                        duration=time.perf_counter() - started,
                        bytes_sent=sent,
                        bytes_received=received,
                    )
            assert response is not None
            if stream and response.status_code < 400:
                # The caller reads the body: the attempt's deadline goes on with every read.
                assert isinstance(response.stream, httpx.AsyncByteStream)
                response.stream = DeadlineStream(
                    response.stream, deadline, late_words(seconds, key)
                )
            if status == 401 and spec.authenticated and self.auth is not None and not refreshed:
                await response.aclose()
                refreshed = True
                if await self.auth.refresh(request.headers):
                    continue
            return response

    async def _attempt(self, spec: RequestSpec, *, stream: bool) -> httpx.Response:
        response = await self._send_once(spec, stream=stream)
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            body = "" if response.is_stream_consumed is False and stream else response.text
            await response.aclose()
            error = self._transient(
                spec, f"transient HTTP {status}", status=status, body=_short(body)
            )
            if isinstance(error, UpstreamUnavailableMixin):
                error.retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status == 429:
                self.observer.throttled(
                    upstream=self.name, endpoint=spec.endpoint, retry_after=error_retry(error)
                )
                pause = error_retry(error)
                self.limiter.pause(
                    min(pause, self.retry.retry_after_max)
                    if pause is not None
                    else self.retry.throttle_pause
                )
            raise error
        if status == 401 and spec.authenticated:
            await response.aclose()
            raise self.errors.auth(
                "authentication refused",
                endpoint=spec.endpoint,
                method=spec.method,
                status_code=status,
                body=_short(response.text),
            )
        return response

    def _retries(self, spec: RequestSpec, attempt: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        # Inside another request's attempt (a token fetch), one try: the outer loop retries.
        attempts = 1 if _IN_ATTEMPT.get() else self.retry.attempts
        return run_with_retries(
            self.name,
            spec,
            attempt,
            policy=self.retry,
            attempts=attempts,
            observer=self.observer,
            sleep=self._sleep,
        )

    # -- public API -----------------------------------------------------------------------

    async def request(self, spec: RequestSpec, handle: Callable[[httpx.Response], T]) -> T:
        """
        Send ``spec`` with retries and return ``handle(response)``.

        ``handle`` sees every non-transient answer (2xx and permanent 4xx) with its body read;
        it turns it into a result or raises the adapter's permanent error.
        """

        async def attempt() -> T:
            token = _IN_ATTEMPT.set(True)  # requests made meanwhile are part of it
            try:
                return handle(await self._attempt(spec, stream=False))
            finally:
                _IN_ATTEMPT.reset(token)

        return await self._retries(spec, attempt)

    @asynccontextmanager
    async def stream(self, spec: RequestSpec) -> AsyncIterator[httpx.Response]:
        """
        Open a streamed response with retries on the opening; the body is read by the caller.

        The limiter slot is held only while opening: a slow consumer must not block other
        requests. A non-2xx answer has its body read, so the caller can inspect ``.text``.
        """

        async def attempt() -> httpx.Response:
            token = _IN_ATTEMPT.set(True)
            try:
                return await self._attempt(spec, stream=True)
            finally:
                _IN_ATTEMPT.reset(token)

        response = await self._retries(spec, attempt)
        try:
            yield response
        finally:
            await response.aclose()

    def protocol_error(
        self, spec: RequestSpec, response: httpx.Response, message: str
    ) -> UpstreamError:
        """An answer that breaks the upstream's API contract (HTML page, bad JSON, ...)."""
        ctype = response.headers.get("content-type", "<none>")
        text = "" if not response.is_stream_consumed else response.text
        return self.errors.protocol(
            f"{message} (content-type {ctype})",
            endpoint=spec.endpoint,
            method=spec.method,
            status_code=response.status_code,
            body=_short(text),
        )


def error_retry(error: Exception) -> float | None:
    """The ``retry_after`` an error carries, if any."""
    value = getattr(error, "retry_after", None)
    return float(value) if value is not None else None


def read_json(upstream: Upstream, spec: RequestSpec, response: httpx.Response) -> Any:
    """
    Parse a JSON body or raise the adapter's protocol error naming endpoint and status.

    An HTML error page, an empty body, truncated JSON or a document nested too deeply to
    parse all end here.
    """
    ctype = response.headers.get("content-type", "")
    if "json" not in ctype.lower():
        raise upstream.protocol_error(spec, response, "expected a JSON answer")
    try:
        # A deeply nested document is a ValueError here, not a RecursionError.
        return loads_bounded(response.content)
    except ValueError as exc:
        raise upstream.protocol_error(spec, response, f"unreadable JSON ({exc})") from exc


__all__ = ["Upstream", "read_json"]
