"""
Pure helpers for configurable sources: dotted paths into JSON and datetime formats.

No I/O here; the REST source uses these to read items and to format its window bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

_MISSING = object()

#: The dates a DAM record may carry. Outside them a date is a placeholder (``0001-01-01``,
#: ``9999-12-31``) or garbage, and the engine's arithmetic on it (the lookback before the
#: cursor, the future tolerance after the DAM's clock, each up to a year) would overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

#: Characters of a refused value quoted in an error.
_SHOWN = 80


def _show(raw: Any) -> str:
    try:
        text = repr(raw)
    except ValueError:  # an int past Python's digit limit for text conversion
        return f"<{type(raw).__name__} too long to show>"
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def in_range(when: datetime, raw: Any) -> datetime:
    """
    ``when`` (aware) if it lies between :data:`EARLIEST` and :data:`LATEST`.

    Raises:
        ValueError: naming the value ``raw`` it was read from.
    """
    if not EARLIEST <= when < LATEST:
        raise ValueError(f"{_show(raw)} is out of range ({EARLIEST.year} to {LATEST.year})")
    return when


class PathMissingError(LookupError):
    """A dotted path does not exist in a JSON value."""


#: Paths split once: a source reads the same few paths from every item of every page.
_STEPS: dict[str, tuple[str, ...]] = {}
_STEPS_LIMIT = 4096


def _steps(path: str) -> tuple[str, ...]:
    steps = _STEPS.get(path)
    if steps is None:
        steps = tuple(path.split("."))
        if len(_STEPS) < _STEPS_LIMIT:
            _STEPS[path] = steps
    return steps


def _walk(value: Any, path: str) -> Any:
    """The value at ``path`` (not empty), or :data:`_MISSING` when a step is absent."""
    node = value
    for step in _STEPS.get(path) or _steps(path):
        if type(node) is dict:  # parsed JSON: one look-up, no subclass to honour
            node = node.get(step, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return _MISSING
    return node


#: What a :func:`reader` gives for an absent path.
MISSING: Any = _MISSING


def reader(path: str | None) -> Callable[[Any], Any]:
    """
    Compile a dotted path once into a function of a JSON value, for the paths read per item.

    Args:
        path: As :func:`dig` takes it; ``None`` reads nothing.

    Returns:
        A function giving the value at ``path`` (as :func:`dig`) or :data:`MISSING`.
    """
    if path is None:
        return lambda value: _MISSING
    if not path:
        return lambda value: value
    steps = _steps(path)
    if len(steps) == 1:
        (first,) = steps

        def one(value: Any) -> Any:
            if type(value) is dict:  # parsed JSON: what _walk does, without its loop
                return value.get(first, _MISSING)
            return _walk(value, path)

        return one
    if len(steps) == 2:
        first, second = steps

        def two(value: Any) -> Any:
            if type(value) is dict:
                node = value.get(first, _MISSING)
                if type(node) is dict:
                    return node.get(second, _MISSING)
                if node is _MISSING:
                    return _MISSING
            return _walk(value, path)  # anything else: the general walk decides

        return two
    return lambda value: _walk(value, path)


def dig(value: Any, path: str) -> Any:
    """
    Follow a dotted path (``file.url``, ``items.0.id``); an empty path is the value itself.

    Raises:
        PathMissingError: when a step is absent.
    """
    if not path:
        return value
    node = _walk(value, path)
    if node is _MISSING:
        raise PathMissingError(path)
    return node


def dig_optional(value: Any, path: str | None) -> Any:
    """Like :func:`dig`, but ``None`` for an absent path or value."""
    if path is None:
        return None
    if not path:
        return value
    node = _walk(value, path)
    return None if node is _MISSING else node


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
    accepted for the epoch formats; ``strftime`` patterns are read as UTC. Dates outside
    :data:`EARLIEST` to :data:`LATEST` are refused.

    Raises:
        ValueError: with a reason naming the value (never ``OverflowError`` or ``OSError``:
            a date too far out for the platform is refused like any other).
    """
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"expected a datetime, got {_show(raw)}")
    if fmt in ("epoch_s", "epoch_ms"):
        try:
            number = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"expected epoch {fmt[6:]}, got {_show(raw)}") from None
        seconds = number / 1000 if fmt == "epoch_ms" else number
        try:
            return in_range(datetime.fromtimestamp(seconds, tz=UTC), raw)
        # NaN, infinity, past what the platform's time_t holds, or in_range's refusal.
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch {fmt[6:]} {_show(raw)} is no date in range") from None
    if not isinstance(raw, str):
        raise ValueError(f"expected a datetime string, got {_show(raw)}")
    if fmt in ("iso", "iso_seconds"):
        text = raw.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO-8601 datetime: {_show(raw)}") from None
    else:
        try:
            parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007 (made aware just below)
        except ValueError:
            raise ValueError(f"{_show(raw)} does not match {fmt!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # 0001-01-01T00:00:00+01:00 is a valid ISO text, and a year before UTC's first one.
        return in_range(parsed.astimezone(UTC), raw)
    except OverflowError:
        raise ValueError(f"{_show(raw)} is out of range") from None


__all__ = [
    "EARLIEST",
    "LATEST",
    "MISSING",
    "PathMissingError",
    "ceil_to",
    "dig",
    "dig_optional",
    "floor_to",
    "format_datetime",
    "in_range",
    "parse_datetime",
    "reader",
    "resolution",
]
