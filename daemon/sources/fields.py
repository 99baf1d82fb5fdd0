"""
Pure helpers for configurable sources: dotted paths into JSON and datetime formats.

No I/O here; the REST source uses these to read items and to format its window bounds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

_MISSING = object()


class PathMissingError(LookupError):
    """A dotted path does not exist in a JSON value."""


def dig(value: Any, path: str) -> Any:
    """
    Follow a dotted path (``file.url``, ``items.0.id``); an empty path is the value itself.

    Raises:
        PathMissingError: when a step is absent.
    """
    if not path:
        return value
    node = value
    for step in path.split("."):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            raise PathMissingError(path)
    return node


def dig_optional(value: Any, path: str | None) -> Any:
    """Like :func:`dig`, but ``None`` for an absent path or value."""
    if path is None:
        return None
    try:
        return dig(value, path)
    except PathMissingError:
        return None


def resolution(fmt: str) -> timedelta:
    """The smallest step a formatted bound can express."""
    if fmt == "iso":
        return timedelta(microseconds=1)
    if fmt == "epoch_ms":
        return timedelta(milliseconds=1)
    if "%f" in fmt:
        return timedelta(microseconds=1)
    return timedelta(seconds=1)


def floor_to(when: datetime, fmt: str) -> datetime:
    """Round ``when`` down to what ``fmt`` can express (a lower bound must never move up)."""
    step = resolution(fmt)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    ticks = (when - epoch) // step
    return epoch + ticks * step


def ceil_to(when: datetime, fmt: str) -> datetime:
    """Round ``when`` up (an exclusive upper bound must never move down)."""
    low = floor_to(when, fmt)
    return low if low == when else low + resolution(fmt)


def format_datetime(when: datetime, fmt: str) -> str:
    """
    Write ``when`` (UTC) in a DAM's format.

    Args:
        when: An aware datetime, already rounded with :func:`floor_to`/:func:`ceil_to`.
        fmt: ``iso``, ``iso_seconds``, ``epoch_s``, ``epoch_ms`` or a ``strftime`` pattern.

    Returns:
        The text to send.
    """
    when = when.astimezone(UTC)
    if fmt == "iso":
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if fmt == "iso_seconds":
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "epoch_s":
        return str(int(when.timestamp()))
    if fmt == "epoch_ms":
        return str(int(when.timestamp() * 1000))
    return when.strftime(fmt)


def parse_datetime(raw: Any, fmt: str) -> datetime:
    """
    Read a DAM datetime into aware UTC.

    ISO values without an offset are taken as UTC (the DAMs we read send UTC); numbers are
    accepted for the epoch formats; ``strftime`` patterns are read as UTC.

    Raises:
        ValueError: with a reason naming the value.
    """
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"expected a datetime, got {raw!r}")
    if fmt in ("epoch_s", "epoch_ms"):
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected epoch {fmt[6:]}, got {raw!r}") from None
        seconds = number / 1000 if fmt == "epoch_ms" else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(raw, str):
        raise ValueError(f"expected a datetime string, got {raw!r}")
    if fmt in ("iso", "iso_seconds"):
        text = raw.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO-8601 datetime: {raw!r}") from None
    else:
        try:
            parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007 (made aware just below)
        except ValueError:
            raise ValueError(f"{raw!r} does not match {fmt!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


__all__ = [
    "PathMissingError",
    "ceil_to",
    "dig",
    "dig_optional",
    "floor_to",
    "format_datetime",
    "parse_datetime",
    "resolution",
]
