"""
Listing engine of the DAM simulator: time windows, offset and keyset pages, opaque cursors.

Pages in ``updated_at`` order slice the store's sorted key lists (``bisect``, no scan); pages
in id order slice the record list, scanning only when a filter applies. Keyset pages resume
strictly after the last key served, so an asset that did not change between two requests is
never skipped, whatever happened to the others.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from daemon.sim.dam.dataset import NUM_BITS, NUM_MASK, AssetRecord, DamStore, to_us

MIN_US = -(1 << 62)
MAX_US = 1 << 62


class QueryError(ValueError):
    """
    A request parameter is invalid; ``param`` names it (the answer is a 400).
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        self.message = message
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True, slots=True)
class Page:
    """
    One page of asset numbers plus what a client needs to ask for the next one.
    """

    nums: list[int]
    total: int
    has_more: bool
    last_key: int | None


def parse_time(text: str, param: str, *, assume_utc: bool = False) -> int:
    """
    Parse an ISO-8601 instant from a query.

    Args:
        text: e.g. ``2026-11-23T08:00:00Z`` or ``2026-11-23T09:00:00.5+01:00``.
        param: the parameter's name, for the error.
        assume_utc: read a value without offset as UTC (vendor shapes) instead of refusing it.

    Returns:
        Microseconds since the epoch.
    """
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
    except ValueError:
        raise QueryError(param, f"not an ISO-8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        if not assume_utc:
            raise QueryError(param, f"needs a UTC offset or 'Z': {text!r}")
        moment = moment.replace(tzinfo=UTC)
    return to_us(moment)


def parse_int(value: str | None, param: str, *, default: int, low: int, high: int) -> int:
    """
    Args:
        value: the raw parameter, or ``None`` when absent.
        param: its name, for the error.
        default: the value when absent.
        low: smallest accepted value.
        high: largest accepted value.

    Returns:
        The integer.
    """
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise QueryError(param, f"not an integer: {value!r}") from None
    if not low <= number <= high:
        raise QueryError(param, f"must be between {low} and {high}, got {number}")
    return number


def encode_cursor(mode: str, key: int) -> str:
    """
    Args:
        mode: the order: ``t`` updated_at, ``u`` uploaded_at, ``i`` id; ``r`` appended = descending.
        key: the last key served.

    Returns:
        An opaque URL-safe token.
    """
    return base64.urlsafe_b64encode(json.dumps([mode, key]).encode()).decode().rstrip("=")


def decode_cursor(token: str, mode: str, param: str = "cursor") -> int:
    """
    Args:
        token: a token from :func:`encode_cursor`.
        mode: the order the current request asks for; a token from another order is refused.
        param: the parameter's name, for the error.

    Returns:
        The last key served.
    """
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise QueryError(param, "malformed cursor") from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[1], int)):
        raise QueryError(param, "malformed cursor")
    if data[0] != mode:
        raise QueryError(param, "cursor belongs to another sort order")
    return int(data[1])


def time_page(
    index: list[int],
    *,
    since_us: int = MIN_US,
    before_us: int = MAX_US,
    after_key: int | None = None,
    offset: int = 0,
    limit: int,
    desc: bool = False,
    extra: Callable[[int], bool] | None = None,
) -> Page:
    """
    Page through ``since_us <= updated_at < before_us`` in (updated_at, number) order.

    Args:
        index: a sorted key list of the store (all records or live ones).
        since_us: inclusive lower bound.
        before_us: exclusive upper bound.
        after_key: keyset position: resume strictly after (or before, when ``desc``) this key.
        offset: items to skip first (offset paging).
        limit: page size.
        desc: newest first.
        extra: a further filter on asset numbers (the window is then scanned).

    Returns:
        The page; ``total`` counts the whole window.
    """
    lo = bisect_left(index, since_us << NUM_BITS)
    hi = bisect_left(index, before_us << NUM_BITS) if before_us < MAX_US else len(index)
    if extra is not None:
        return _scan_keys(index, lo, hi, after_key, offset, limit, desc, extra)
    total = max(0, hi - lo)
    if desc:
        end = hi if after_key is None else min(hi, bisect_left(index, after_key, lo, hi))
        end -= offset
        start = max(lo, end - limit)
        keys = index[start:end][::-1] if end > lo else []
        has_more = start > lo
    else:
        begin = lo if after_key is None else max(lo, bisect_right(index, after_key, lo, hi))
        begin += offset
        keys = index[begin : min(hi, begin + limit)]
        has_more = begin + limit < hi
    return Page([k & NUM_MASK for k in keys], total, has_more, keys[-1] if keys else None)


def id_page(
    store: DamStore,
    *,
    since_us: int = MIN_US,
    before_us: int = MAX_US,
    live_only: bool = False,
    after_num: int | None = None,
    offset: int = 0,
    limit: int,
    desc: bool = False,
    extra: Callable[[AssetRecord], bool] | None = None,
) -> Page:
    """
    Page through the assets in id (creation) order, optionally filtered.

    Args:
        store: the DAM's state.
        since_us: inclusive lower bound on updated_at.
        before_us: exclusive upper bound on updated_at.
        live_only: leave out deleted assets.
        after_num: keyset position: resume after this number.
        offset: matching items to skip first.
        limit: page size.
        desc: highest id first.
        extra: a further filter on records.

    Returns:
        The page; ``total`` counts every match.
    """
    records = store.records
    count = len(records)
    filtered = since_us > MIN_US or before_us < MAX_US or live_only or extra is not None
    if desc:
        first = count if after_num is None else min(count, after_num - 1)
        order = range(first, 0, -1)
    else:
        first = 1 if after_num is None else max(1, after_num + 1)
        order = range(first, count + 1)
    if not filtered:
        chosen = list(order[offset : offset + limit + 1])
        return _page(chosen, count, limit)
    index = store.by_time_live if live_only else store.by_time
    if extra is None:
        total = time_page(index, since_us=since_us, before_us=before_us, limit=0).total
    else:
        total = sum(1 for r in records if _matches(r, since_us, before_us, live_only, extra))
    chosen = []
    skipped = 0
    for num in order:
        if _matches(records[num - 1], since_us, before_us, live_only, extra):
            if skipped < offset:
                skipped += 1
                continue
            chosen.append(num)
            if len(chosen) > limit:
                break
    return _page(chosen, total, limit)


def _scan_keys(
    index: list[int],
    lo: int,
    hi: int,
    after_key: int | None,
    offset: int,
    limit: int,
    desc: bool,
    extra: Callable[[int], bool],
) -> Page:
    window = index[lo:hi]
    total = sum(1 for key in window if extra(key & NUM_MASK))
    if desc:
        end = len(window) if after_key is None else bisect_left(window, after_key)
        keys = reversed(window[:end])
    else:
        begin = 0 if after_key is None else bisect_right(window, after_key)
        keys = iter(window[begin:])
    chosen: list[int] = []
    skipped = 0
    for key in keys:
        if extra(key & NUM_MASK):
            if skipped < offset:
                skipped += 1
                continue
            chosen.append(key)
            if len(chosen) > limit:
                break
    page = chosen[:limit]
    return Page(
        [k & NUM_MASK for k in page], total, len(chosen) > limit, page[-1] if page else None
    )


def _matches(
    record: AssetRecord,
    since_us: int,
    before_us: int,
    live_only: bool,
    extra: Callable[[AssetRecord], bool] | None,
) -> bool:
    if live_only and record.deleted:
        return False
    if not since_us <= record.updated_us < before_us:
        return False
    return extra is None or extra(record)


def _page(chosen: list[int], total: int, limit: int) -> Page:
    nums = chosen[:limit]
    return Page(nums, total, len(chosen) > limit, nums[-1] if nums else None)


__all__ = [
    "MAX_US",
    "MIN_US",
    "Page",
    "QueryError",
    "decode_cursor",
    "encode_cursor",
    "id_page",
    "parse_int",
    "parse_time",
    "time_page",
]
