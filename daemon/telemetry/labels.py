"""
Bounded metric labels: status classes, endpoint templates, and a cap on distinct values.

As a last line of defence against a caller passing a raw URL or an asset id, every free-text
label is normalised and capped: past :data:`MAX_LABEL_VALUES` distinct values a label becomes
``"other"`` and one warning is logged.
"""

from __future__ import annotations

import re

import structlog

log = structlog.get_logger(__name__)


#: Status classes of ``damsync_http_requests_total``; ``error`` means no answer came back.
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")


#: Distinct values one free-text label may take before further values become ``other``.
MAX_LABEL_VALUES = 100


OTHER = "other"


_SOURCE = ("source",)


_ENDPOINT = ("upstream", "endpoint", "method")


_URL_PREFIX = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*")


def status_class(status: int | None) -> str:
    """
    Map an HTTP status to the ``code`` label.

    Returns:
        ``"2xx"`` .. ``"5xx"``, or ``"error"`` when there was no answer (or a nonsense status).
    """
    if status is None or not 200 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def endpoint_label(endpoint: str) -> str:
    """
    Reduce an endpoint to a safe label: scheme, host, credentials and query string removed.

    Callers pass templates such as ``/api/rest/v1/assets/{code}``; this only protects against a
    caller that passes a raw URL by mistake (its query may hold a token, its host a password).

    Returns:
        The path part, without query or fragment; ``"unknown"`` when nothing is left.
    """
    path = _URL_PREFIX.sub("", endpoint.strip())
    path = path.split("?", 1)[0].split("#", 1)[0]
    return path or "unknown"


class _LabelCap:
    """Remembers the values one label took and folds new ones into ``other`` past a limit."""

    __slots__ = ("_limit", "_name", "_seen")

    def __init__(self, name: str, limit: int = MAX_LABEL_VALUES) -> None:
        self._name = name
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            if OTHER not in self._seen:
                self._seen.add(OTHER)
                log.warning("metrics.label_capped", label=self._name, limit=self._limit)
            return OTHER
        self._seen.add(value)
        return value


__all__ = ["MAX_LABEL_VALUES", "STATUS_CLASSES", "endpoint_label", "status_class"]
