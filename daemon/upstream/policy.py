"""
The terms of an upstream: timeouts, per-attempt limits, retry policy, error kinds, request
specs, and the seams (:class:`RequestObserver`, :class:`UpstreamAuth`) an
:class:`~daemon.upstream.session.Upstream` calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

from daemon.core.errors import UpstreamError
from daemon.settings.connections import HttpSettings, RetrySettings, TimeoutSettings

T = TypeVar("T")


#: Statuses worth another attempt. Our writes set absolute values, so repeating one is safe.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Explicit timeouts in seconds; httpx's 5 s default is too short for bulk PATCHes."""

    connect: float = 5.0
    read: float = 60.0
    write: float = 60.0
    pool: float = 30.0

    @classmethod
    def from_settings(cls, settings: TimeoutSettings) -> HttpTimeouts:
        """The ``[*.http.timeouts]`` section as timeouts."""
        return cls(settings.connect, settings.read, settings.write, settings.pool)

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


#: Default of ``http.max_body_bytes``: far above any page of a DAM or the PIM (a few MB).
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """
    What one attempt may cost, whatever the upstream does; httpx's timeouts are per operation.

    Args:
        total: Seconds one attempt may take, from sending to the last byte of a body read into
            memory (``http.timeouts.total``).
        transfer: Seconds a streamed download (from sending to the last byte the caller reads)
            or a request with a streamed upload body may take (``http.timeouts.transfer``).
        max_body_bytes: Bytes of an answer read into memory (``http.max_body_bytes``).
        key: The configuration section these come from, named in errors
            (``pim.http``, ``sources.<name>.http``).
    """

    total: float = 120.0
    transfer: float = 3600.0
    max_body_bytes: int = MAX_BODY_BYTES
    key: str = "http"

    @classmethod
    def from_settings(cls, settings: HttpSettings, key: str) -> AttemptLimits:
        """The limits of an ``[*.http]`` section found at ``key``."""
        return cls(
            total=settings.timeouts.total,
            transfer=settings.timeouts.transfer,
            max_body_bytes=settings.max_body_bytes,
            key=key,
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    How hard to try before giving up on one request.

    Args:
        attempts: Total attempts, the first included.
        deadline: Seconds after the first attempt past which no new attempt starts.
        wait_initial: Base of the exponential backoff, in seconds.
        wait_max: Cap of one backoff wait.
        retry_after_max: ``Retry-After`` values are clamped to this many seconds.
        throttle_pause: How long a 429 without ``Retry-After`` pauses the whole upstream.
    """

    attempts: int = 6
    deadline: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    retry_after_max: float = 60.0
    throttle_pause: float = 1.0

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        """The ``[*.http.retry]`` section as a policy."""
        return cls(
            attempts=settings.attempts,
            deadline=settings.deadline,
            wait_initial=settings.wait_initial,
            wait_max=settings.wait_max,
            retry_after_max=settings.retry_after_max,
            throttle_pause=settings.throttle_pause,
        )

    def within(self, cap: RetryPolicy | None) -> RetryPolicy:
        """
        This policy, each field at most ``cap``'s (``None``: unchanged).

        A cap, not a replacement: a configuration stricter than the cap (one attempt) stays so.

        Returns:
            The capped policy.
        """
        if cap is None:
            return self
        return RetryPolicy(
            attempts=min(self.attempts, cap.attempts),
            deadline=min(self.deadline, cap.deadline),
            wait_initial=min(self.wait_initial, cap.wait_initial),
            wait_max=min(self.wait_max, cap.wait_max),
            retry_after_max=min(self.retry_after_max, cap.retry_after_max),
            throttle_pause=min(self.throttle_pause, cap.throttle_pause),
        )


#: The cap of one-shot commands (``sync --once``, ``validate-config``): an operator is waiting
#: at a terminal, so an unreachable upstream must fail within seconds, one retry at most. The
#: daemon keeps its configured policy: it has time, and giving up there drops a whole pass.
ONE_SHOT_RETRY = RetryPolicy(
    attempts=2, deadline=8.0, wait_initial=0.5, wait_max=2.0, retry_after_max=5.0
)


class RequestObserver(Protocol):
    """What an upstream reports; metrics implement it, tests may record it."""

    def request_finished(
        self,
        *,
        upstream: str,
        method: str,
        endpoint: str,
        status: int | None,
        duration: float,
        bytes_sent: int,
        bytes_received: int,
    ) -> None:
        """One attempt ended: ``status`` is ``None`` when no answer came back."""

    def request_retried(self, *, upstream: str, method: str, endpoint: str, reason: str) -> None:
        """A failed attempt will be tried again after a backoff."""

    def throttled(self, *, upstream: str, endpoint: str, retry_after: float | None) -> None:
        """The upstream answered 429."""

    def bytes_streamed(self, *, upstream: str, endpoint: str, received: int) -> None:
        """A streamed body delivered this many bytes."""


class NullObserver:
    """Observes nothing."""

    def request_finished(self, **_: Any) -> None:
        return None

    def request_retried(self, **_: Any) -> None:
        return None

    def throttled(self, **_: Any) -> None:
        return None

    def bytes_streamed(self, **_: Any) -> None:
        return None


class UpstreamAuth(Protocol):
    """Credentials an upstream adds to every attempt."""

    async def headers(self) -> Mapping[str, str]:
        """The headers to send now (may fetch a token lazily)."""

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """
        The upstream answered 401 to ``rejected``; get fresh credentials.

        Returns:
            True when a retry with new credentials is worth it.
        """


@dataclass(frozen=True, slots=True)
class ErrorKinds:
    """The adapter's error classes, so the shared code raises component errors."""

    unavailable: type[UpstreamError]
    throttled: type[UpstreamError]
    auth: type[UpstreamError]
    protocol: type[UpstreamError]


@dataclass(slots=True)
class RequestSpec:
    """
    What to send; ``content`` is a factory so that every attempt gets a fresh body.

    Exactly one of ``json``, ``content``, ``body``, ``files`` or ``data`` is normally set.
    ``body`` is a body built once (a bulk PATCH encoded by the adapter): every attempt sends
    these same bytes, within the ``total`` deadline of a request read into memory; the caller
    sets its ``Content-Type`` header.
    """

    method: str
    #: A path on the base URL or an absolute URL; an ``httpx.URL`` the caller parsed already
    #: (a binary's link) is used as it is, not parsed again.
    url: str | httpx.URL
    endpoint: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: Callable[[], bytes | AsyncIterator[bytes]] | None = None
    files: Callable[[], Mapping[str, Any]] | None = None
    data: Mapping[str, str] | None = None
    authenticated: bool = True
    body: bytes | None = None


__all__ = [
    "MAX_BODY_BYTES",
    "AttemptLimits",
    "ErrorKinds",
    "HttpTimeouts",
    "NullObserver",
    "ONE_SHOT_RETRY",
    "RequestObserver",
    "RequestSpec",
    "RetryPolicy",
    "TRANSIENT_STATUSES",
    "UpstreamAuth",
]
