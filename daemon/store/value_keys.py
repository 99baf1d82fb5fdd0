"""
The canonical text form of managed value keys, as ``asset_states.managed_values`` stores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from daemon.store.rows import ValueKey


def encode_value_keys(keys: Iterable[ValueKey]) -> str:
    """
    Write value keys the canonical way: a sorted, compact JSON list of ``attr|locale|channel``.

    Codes never hold ``|`` (Akeneo codes are letters, digits and ``_``); a missing locale or
    channel is empty: ``["description|fr_FR|","tags||"]``.
    """
    texts = sorted({f"{a}|{loc or ''}|{ch or ''}" for a, loc, ch in keys})
    return json.dumps(texts, separators=(",", ":"), ensure_ascii=False)


def decode_value_keys(text: str | None) -> frozenset[ValueKey] | None:
    """
    Read what :func:`encode_value_keys` wrote; ``None`` (unknown) for NULL.

    Text that cannot be ours also reads as unknown: unknown erases nothing, the safe side.
    """
    if text is None:
        return None
    try:
        items = json.loads(text)
    except ValueError:
        return None
    keys: set[ValueKey] = set()
    for item in items if isinstance(items, list) else [None]:
        parts = item.split("|") if isinstance(item, str) else []
        if len(parts) != 3 or not parts[0]:
            return None
        keys.add((parts[0], parts[1] or None, parts[2] or None))
    return frozenset(keys)


__all__ = ["decode_value_keys", "encode_value_keys"]
