"""
:class:`HttpObserver`: how every HTTP attempt to the PIM and the DAMs feeds metrics.

It is the :class:`daemon.upstream.policy.RequestObserver` side of
:class:`~daemon.telemetry.metrics.Metrics`, which defines the metrics it updates. Endpoints and
upstreams are capped label values (see :mod:`daemon.telemetry.labels`).
"""

from __future__ import annotations

from typing import TypeAlias

from prometheus_client import Counter, Histogram

from daemon.telemetry.labels import STATUS_CLASSES, _LabelCap, endpoint_label, status_class

#: The children of ``http_requests``, ``http_duration``, ``http_sent`` and ``http_received``.
_Series: TypeAlias = tuple[Counter, Histogram, Counter, Counter]

#: Distinct (upstream, endpoint, method, code) keys whose series are kept.
MAX_CACHED = 1024


class HttpObserver:
    """
    Requests by status class, their duration, retries, throttling and bytes per endpoint.

    A mixin: the metrics below are created by :class:`~daemon.telemetry.metrics.Metrics`, and
    only declared here so that the methods are type-checked against them.
    """

    http_requests: Counter
    http_duration: Histogram
    http_retries: Counter
    http_throttled: Counter
    http_sent: Counter
    http_received: Counter
    _upstreams: _LabelCap
    _endpoints: _LabelCap
    _series: dict[tuple[str, str, str, str], _Series]
    _received: dict[tuple[str, str], Counter]

    def _ep(self, upstream: str, endpoint: str) -> tuple[str, str]:
        return self._upstreams(upstream), self._endpoints(endpoint_label(endpoint))

    def _attempt_series(self, upstream: str, endpoint: str, method: str, code: str) -> _Series:
        """
        The series one attempt updates, looked up once per (upstream, endpoint, method, code).

        Label normalisation, capping and prometheus' locked child lookups ran for every
        request; the answer never changes for a key, so it is kept (for at most
        :data:`MAX_CACHED` keys: a caller passing raw URLs only loses the shortcut).
        """
        key = (upstream, endpoint, method, code)
        cache: dict[tuple[str, str, str, str], _Series] | None = getattr(self, "_series", None)
        if cache is None:
            cache = self._series = {}
        series = cache.get(key)
        if series is None:
            up, ep = self._ep(upstream, endpoint)
            series = (
                self.http_requests.labels(up, ep, method, code),
                self.http_duration.labels(up, ep, method),
                self.http_sent.labels(up, ep),
                self.http_received.labels(up, ep),
            )
            if len(cache) < MAX_CACHED:
                cache[key] = series
        return series

    # -- registration: export 0 for series known to exist -----------------------------------

    def register_endpoint(self, upstream: str, method: str, endpoint: str) -> None:
        """
        Create the series of one known endpoint at 0 (every status class, retries, bytes).

        Args:
            upstream: ``pim`` or the source name.
            method: HTTP method.
            endpoint: The endpoint template.
        """
        up, ep = self._ep(upstream, endpoint)
        for code in STATUS_CLASSES:
            self.http_requests.labels(up, ep, method, code)
        self.http_duration.labels(up, ep, method)
        self.http_retries.labels(up, ep, method)
        self.http_throttled.labels(up, ep)
        self.http_sent.labels(up, ep)
        self.http_received.labels(up, ep)

    # -- RequestObserver ------------------------------------------------------------------

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
        requests, durations, sent, received = self._attempt_series(
            upstream, endpoint, method, status_class(status)
        )
        requests.inc()
        durations.observe(duration)
        if bytes_sent > 0:
            sent.inc(bytes_sent)
        if bytes_received > 0:
            received.inc(bytes_received)

    def request_retried(self, *, upstream: str, method: str, endpoint: str, reason: str) -> None:
        """A failed attempt will be tried again (``reason`` is not a label: it is unbounded)."""
        up, ep = self._ep(upstream, endpoint)
        self.http_retries.labels(up, ep, method).inc()

    def throttled(self, *, upstream: str, endpoint: str, retry_after: float | None) -> None:
        """The upstream answered 429."""
        up, ep = self._ep(upstream, endpoint)
        self.http_throttled.labels(up, ep).inc()

    def bytes_streamed(self, *, upstream: str, endpoint: str, received: int) -> None:
        """A streamed body delivered ``received`` bytes."""
        if received > 0:
            cache: dict[tuple[str, str], Counter] | None = getattr(self, "_received", None)
            if cache is None:
                cache = self._received = {}
            counter = cache.get((upstream, endpoint))
            if counter is None:
                counter = self.http_received.labels(*self._ep(upstream, endpoint))
                if len(cache) < MAX_CACHED:
                    cache[upstream, endpoint] = counter
            counter.inc(received)


__all__ = ["HttpObserver"]
