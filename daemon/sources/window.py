"""
Where an asset read from a source belongs: this window, a later one, or nowhere (future-dated).

REST listings are read without the window's upper bound and hot folders check every file's
time (docs/sources.md, "Future-dated assets"), so an asset stamped after the DAM's own clock is
reported instead of hidden until that clock reaches its date. Pure: the caller passes the time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from daemon.core.errors import SourceAssetError
from daemon.core.records import Window

#: ``window``: yield it; ``later``: it belongs to a later window (at or after ``until`` but not
#: beyond the tolerance); ``future``: a per-asset error; ``earlier``: before ``since`` (rounding).
Placement = Literal["window", "later", "future", "earlier"]


def place(when: datetime, window: Window, horizon: datetime) -> Placement:
    """
    Where an ``updated_at`` falls.

    Args:
        when: The asset's ``updated_at``.
        window: The window being read.
        horizon: The DAM's time plus the tolerance: later dates are errors.

    Returns:
        The placement; ``window`` wins over ``future`` (a bounded backfill or the id sweep of
        a full read asks for far-future windows on purpose).
    """
    if window.contains(when):
        return "window"
    if window.since is not None and when < window.since:
        return "earlier"
    return "future" if when >= horizon else "later"


def future_error(
    asset_id: str,
    updated_at: datetime,
    *,
    source: str,
    path: str,
    dam_now: datetime,
    tolerance: timedelta,
) -> SourceAssetError:
    """
    The per-asset error of an asset dated after the DAM's clock plus the tolerance.

    Args:
        asset_id: The future-dated asset.
        updated_at: Its date.
        source: Source name.
        path: Where ``updated_at`` sits in the DAM's record.
        dam_now: The DAM's (or the filesystem's) time when the asset was read.
        tolerance: ``future_tolerance``.

    Returns:
        The error naming asset, field and both times.
    """
    return SourceAssetError(
        asset_id=asset_id,
        field="updated_at",
        path=path,
        reason=(
            f"{updated_at.isoformat()} is in the future (DAM time "
            f"{dam_now.isoformat(timespec='seconds')}, tolerance {tolerance.total_seconds():g} s); "
            "fix the date in the DAM"
        ),
        source=source,
    )


__all__ = ["Placement", "future_error", "place"]
