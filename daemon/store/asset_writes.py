"""
The asset states a batch commit writes: one executemany upsert of the written assets' rows.

Part of the batch commit (:mod:`daemon.store.batch_commit`), run on the driver's cursor
(:mod:`daemon.store.driver_many`): the per-row cost of a batch commit is mostly here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from daemon.store.driver_many import driver_many
from daemon.store.rows import AssetWrite, ValueKey
from daemon.store.statements import dialect_insert
from daemon.store.tables import asset_states
from daemon.store.value_keys import encode_value_keys

if TYPE_CHECKING:
    from sqlalchemy import Connection, Executable

T = TypeVar("T")


def _last_wins(items: Iterable[T], key: Any) -> dict[str, T]:
    """Deduplicate by key, keeping the last (one upsert may not touch a row twice on PG)."""
    return {key(item): item for item in items}


@functools.cache
def _asset_upsert(dialect: str) -> Executable:
    stmt = dialect_insert(dialect, asset_states)
    return stmt.on_conflict_do_update(
        index_elements=[asset_states.c.source, asset_states.c.dam_id],
        set_={name: stmt.excluded[name] for name in _WRITTEN},
    )


#: Assets of a family mostly manage the same values: encode each distinct set once.
_encode_keys = functools.lru_cache(maxsize=4096)(encode_value_keys)


def _encoded(keys: frozenset[ValueKey]) -> str:
    # Only a frozenset is hashable; a caller passing another collection is encoded each time.
    return _encode_keys(keys) if type(keys) is frozenset else encode_value_keys(keys)


#: The columns a written asset sets (every one but the key ``source, dam_id``).
_WRITTEN = tuple(column.name for column in asset_states.c if not column.primary_key)


#: A written asset's row: the varying columns first, in the order ``write_assets`` gives them.
_ASSET_COLUMNS = (
    "dam_id",
    "family",
    "code",
    "content_hash",
    "binary_checksum",
    "media_code",
    "dam_updated_at",
    "request_id",
    "managed_values",
    "source",
    "deleted",
    "last_synced_at",
    "run_id",
)


def write_assets(
    session: Connection,
    source: str,
    run_id: int | None,
    written: Sequence[AssetWrite],
    now: datetime,
) -> None:
    """Upsert the rows of the assets a batch wrote, inside the caller's transaction."""
    rows = [
        (
            w.dam_id,
            w.family,
            w.code,
            w.content_hash,
            w.binary_checksum,
            w.media_code,
            w.dam_updated_at,
            w.request_id,
            # Written with the asset, in this transaction: the keys always match the PIM write.
            None if w.managed_values is None else _encoded(w.managed_values),
        )
        for w in _last_wins(written, lambda w: w.dam_id).values()
    ]
    if rows:
        shared = {"source": source, "deleted": False, "last_synced_at": now, "run_id": run_id}
        upsert_assets = driver_many(session, "asset", _asset_upsert, _ASSET_COLUMNS)
        upsert_assets.run(session, rows, shared)


__all__ = ["write_assets"]
