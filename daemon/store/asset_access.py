"""
:class:`AssetAccess`: what the store knows per asset and per source outside a batch commit.

Mixed into :class:`~daemon.store.state_store.Store`: the mapping a source runs with, uploads and
write intents recorded ahead of their batch (:mod:`daemon.store.batch_prepare`; the key claims
that go with them are ownership's, :mod:`daemon.store.ownership`), and bulk reads of asset
states and media codes. The reads of every batch run statements built
once, with the ids in one expanding parameter (:mod:`daemon.store.statements`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select

from daemon.store import batch_prepare
from daemon.store.batch_prepare import Key
from daemon.store.driver_in import driver_in
from daemon.store.rows import AssetState
from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import chunks, ids_param, upsert
from daemon.store.tables import asset_states, media_files, source_configs
from daemon.store.value_keys import decode_value_keys


class AssetAccess(SessionBoundary):
    """Mapping hashes, media codes, write intents and asset states of a source."""

    def mapping_changed(self, source: str, mapping_hash: str) -> bool:
        """
        Store ``mapping_hash`` as the mapping ``source`` now runs with.

        Returns:
            True when a different mapping was stored before (not on the first call).
        """
        with self._write("mapping_changed") as session:
            before = session.execute(
                select(source_configs.c.mapping_hash).where(source_configs.c.source == source)
            ).scalar()
            if before == mapping_hash:
                return False
            stmt = upsert(session, source_configs)
            row = {"source": source, "mapping_hash": mapping_hash, "updated_at": self._clock()}
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[source_configs.c.source],
                    set_={"mapping_hash": mapping_hash, "updated_at": row["updated_at"]},
                ),
                [row],
            )
        return before is not None

    def record_media(self, source: str, codes: Mapping[str, str]) -> None:
        """
        Remember uploads (``{checksum: media code}``) at once, outside any batch, in one
        transaction: the binaries exist in the PIM from now on, whatever happens to their
        batches, so a crash never makes us upload them again.
        """
        with self._write("record_media") as session:
            batch_prepare.record_media(session, source, codes, self._clock())

    def record_intents(self, source: str, intents: Sequence[Key]) -> None:
        """Note ``(dam_id, family, code)`` of assets about to be written (see batch module)."""
        with self._write("record_intents") as session:
            batch_prepare.record_intents(session, source, intents, self._clock())

    def asset_states(self, source: str, dam_ids: Sequence[str]) -> dict[str, AssetState]:
        """The known state of ``dam_ids`` (bulk read for one batch); unknown ids are absent."""
        found: dict[str, AssetState] = {}
        with self._read("asset_states") as session:
            states = driver_in(session, "asset_states", _states)
            for part in chunks(sorted(set(dam_ids))):
                for row in states.run(session, {"source": source, "ids": list(part)}):
                    found[row[1]] = _to_state(row)
        return found

    def media_code(self, source: str, checksum: str) -> str | None:
        """The media file code of a binary already uploaded for ``source``, by checksum."""
        with self._read("media_code") as session:
            return session.execute(
                _media_code(), {"source": source, "checksum": checksum}
            ).scalar_one_or_none()

    def media_codes(self, source: str, checksums: Sequence[str]) -> dict[str, str]:
        """
        The media file codes of ``checksums`` already uploaded for ``source`` (bulk read for
        one batch, :meth:`media_code` for many); those without one are absent.
        """
        found: dict[str, str] = {}
        with self._read("media_codes") as session:
            for part in chunks(sorted(set(checksums))):
                rows = session.execute(_media_codes(), {"source": source, "ids": list(part)})
                found.update({row.checksum: row.media_code for row in rows})
        return found

    def known_ids(self, source: str, *, batch_size: int = 1000) -> Iterator[str]:
        """Stream the DAM ids of ``source`` not flagged deleted, in id order (reconciliation)."""
        with self._translated("known_ids"), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(
                select(asset_states.c.dam_id)
                .where(asset_states.c.source == source, asset_states.c.deleted.is_(False))
                .order_by(asset_states.c.dam_id)
            )
            for row in result:
                yield row.dam_id

    def iter_asset_states(self, source: str, *, batch_size: int = 1000) -> Iterator[AssetState]:
        """Stream every asset state of ``source``, deleted ones too, in id order (reconcile)."""
        with self._translated("iter_asset_states"), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(
                select(*_STATE_COLUMNS)
                .where(asset_states.c.source == source)
                .order_by(asset_states.c.dam_id)
            )
            for row in result:
                yield _to_state(row)


@functools.cache
def _states() -> Select[Any]:
    return select(*_STATE_COLUMNS).where(
        asset_states.c.source == bindparam("source"), asset_states.c.dam_id.in_(ids_param())
    )


@functools.cache
def _media_code() -> Select[Any]:
    files = media_files.c
    return select(files.media_code).where(
        files.source == bindparam("source"), files.checksum == bindparam("checksum")
    )


@functools.cache
def _media_codes() -> Select[Any]:
    files = media_files.c
    return select(files.checksum, files.media_code).where(
        files.source == bindparam("source"), files.checksum.in_(ids_param())
    )


#: Every ``asset_states`` column, in table order: :class:`AssetState`'s field order (rows
#: unpack by position; ``tests/store/test_driver_statements.py`` holds the two together).
_STATE_COLUMNS = tuple(asset_states.c)

#: Assets of a family mostly manage the same values: their stored text repeats, decode it once.
_decode_keys = functools.lru_cache(maxsize=4096)(decode_value_keys)


def _to_state(row: Any) -> AssetState:
    """A row of :data:`_STATE_COLUMNS` (by position: faster than by name for every row)."""
    (
        source,
        dam_id,
        family,
        code,
        content_hash,
        checksum,
        media,
        dam_updated_at,
        deleted,
        synced,
        run_id,
        request_id,
        managed,
    ) = row
    return AssetState(
        source,
        dam_id,
        family,
        code,
        content_hash,
        checksum,
        media,
        dam_updated_at,
        bool(deleted),
        synced,
        run_id,
        request_id,
        _decode_keys(managed),
    )


__all__ = ["AssetAccess"]
