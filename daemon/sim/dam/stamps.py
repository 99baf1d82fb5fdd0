"""
Ids and times of the DAM simulator: asset ids, microsecond stamps and their text form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MAX_ASSETS = 999_999  # ids are a-000001 .. a-999999
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def asset_id(num: int) -> str:
    """
    Args:
        num: the asset number (1-based).

    Returns:
        The id text, ``a-`` and six digits.
    """
    return f"a-{num:06d}"


def parse_asset_id(text: str) -> int | None:
    """
    Args:
        text: a candidate id.

    Returns:
        Its number, or ``None`` when the text is not an id of the simulator.
    """
    if len(text) != 8 or not text.startswith("a-") or not text[2:].isdigit():
        return None
    return int(text[2:]) or None


def to_us(moment: datetime) -> int:
    """
    Args:
        moment: an aware datetime.

    Returns:
        Microseconds since the Unix epoch.
    """
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(stamp: int) -> datetime:
    """
    Args:
        stamp: microseconds since the Unix epoch.

    Returns:
        The aware UTC datetime.
    """
    return _EPOCH + timedelta(microseconds=stamp)


def format_micro(moment: datetime) -> str:
    """
    Args:
        moment: an aware datetime.

    Returns:
        ``2026-11-23T08:00:00.123456Z`` (UTC, always six fractional digits).
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["MAX_ASSETS", "asset_id", "format_micro", "from_us", "parse_asset_id", "to_us"]
