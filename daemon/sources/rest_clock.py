"""
The REST DAM's clock, read from its answers and carried forward on the monotonic clock.

Every answer tells the DAM's time (a server-time body field when configured, else the ``Date``
header); the latest one is kept as an anchor together with the monotonic time it arrived, so
the DAM's time "now" is the anchor plus a measured duration, never a local wall-clock reading.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from daemon.core.errors import SourceProtocolError
from daemon.sources.fields import dig_optional, in_range, parse_datetime
from daemon.upstream.policy import RequestSpec


class DamClock:
    """
    The DAM's clock anchored on its latest answer.

    Args:
        server_time_path: Dotted path of the server-time body field, else ``None`` (``Date``).
        monotonic: Measures the time elapsed since the anchor was taken.
    """

    __slots__ = ("_monotonic", "_server_time_path", "anchor")

    def __init__(self, server_time_path: str | None, monotonic: Callable[[], float]) -> None:
        self._server_time_path = server_time_path
        self._monotonic = monotonic
        #: (the DAM's time in the latest answer, the monotonic time it arrived)
        self.anchor: tuple[datetime, float] | None = None

    def read(self, body: Any, response: httpx.Response, spec: RequestSpec) -> datetime:
        """The DAM's time in one answer; the ``Date`` header is floored to the second."""
        if self._server_time_path:
            raw = dig_optional(body, self._server_time_path)
            if raw is not None:
                try:
                    return parse_datetime(raw, "iso")
                except ValueError as exc:
                    raise SourceProtocolError(
                        f"unreadable server time: {exc}", endpoint=spec.endpoint
                    ) from None
        header = response.headers.get("date")
        if header is None:
            raise SourceProtocolError("the DAM sends no Date header", endpoint=spec.endpoint)
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            raise SourceProtocolError("unreadable Date header", endpoint=spec.endpoint) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            # A DAM claiming year 9999 would overflow the window arithmetic later.
            return in_range(when.astimezone(UTC), header)
        except (ValueError, OverflowError):
            raise SourceProtocolError("Date header out of range", endpoint=spec.endpoint) from None

    def settle(self, body: Any, response: httpx.Response, spec: RequestSpec) -> datetime:
        """Anchor on an answer whose clock must be readable (a probe); its time is returned."""
        when = self.read(body, response, spec)
        self.anchor = (when, self._monotonic())
        return when

    def remember(self, body: Any, response: httpx.Response, spec: RequestSpec) -> None:
        """Anchor on a listing answer (an unreadable clock just skips it)."""
        try:
            when = self.read(body, response, spec)
        except SourceProtocolError:
            return
        self.anchor = (when, self._monotonic())

    def recent(self, max_age: float) -> datetime | None:
        """
        The DAM's time now when the anchor is younger than ``max_age`` seconds, else ``None``.

        ``max_age`` 0 never reuses the anchor; a negative elapsed time (a monotonic clock that
        went back, as a fake one may) does not either.
        """
        anchor = self.anchor
        if anchor is not None and max_age > 0:
            elapsed = self._monotonic() - anchor[1]
            if 0 <= elapsed < max_age:
                return anchor[0] + timedelta(seconds=elapsed)
        return None

    def now(self) -> datetime | None:
        """The DAM's time now, from the latest answer's clock (no request), if any was read."""
        anchor = self.anchor
        if anchor is None:
            return None
        return anchor[0] + timedelta(seconds=max(0.0, self._monotonic() - anchor[1]))


__all__ = ["DamClock"]
