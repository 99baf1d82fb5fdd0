"""
:class:`AssetAccess`: what the store knows per asset and per source outside a batch commit.

Mixed into :class:`~daemon.store.state_store.Store`: the mapping a source runs with, uploads and
write intents recorded ahead of their batch, and bulk reads of asset states and media codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, select

from daemon.store.batch_commit import chunks, record_intents, record_media, upsert
from daemon.store.rows import AssetState
from daemon.store.session_boundary import SessionBoundary
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

    def record_media(self, source: str, checksum: str, media_code: str) -> None:
        """
        Remember an upload at once, outside any batch: the binary exists in the PIM from now
        on, whatever happens to its batch, so a crash never makes us upload it again.
        """
        with self._write("record_media") as session:
            record_media(session, source, {checksum: media_code}, self._clock())

    def record_intents(self, source: str, intents: Sequence[tuple[str, str, str]]) -> None:
        """Note ``(dam_id, family, code)`` of assets about to be written (see batch module)."""
        with self._write("record_intents") as session:
            record_intents(session, source, intents, self._clock())

    def asset_states(self, source: str, dam_ids: Sequence[str]) -> dict[str, AssetState]:
        """The known state of ``dam_ids`` (bulk read for one batch); unknown ids are absent."""
        found: dict[str, AssetState] = {}
        with self._read("asset_states") as session:
            for part in chunks(sorted(set(dam_ids))):
                query = select(asset_states).where(
                    asset_states.c.source == source, asset_states.c.dam_id.in_(part)
                )
                for row in session.execute(query):
                    found[row.dam_id] = _to_state(row)
        return found

    def media_code(self, source: str, checksum: str) -> str | None:
        """The media file code of a binary already uploaded for ``source``, by checksum."""
        with self._read("media_code") as session:
            return session.execute(
                select(media_files.c.media_code).where(
                    and_(media_files.c.source == source, media_files.c.checksum == checksum)
                )
            ).scalar_one_or_none()

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
                select(asset_states)
                .where(asset_states.c.source == source)
                .order_by(asset_states.c.dam_id)
            )
            for row in result:
                yield _to_state(row)


def _to_state(row: Any) -> AssetState:
    return AssetState(
        source=row.source,
        dam_id=row.dam_id,
        family=row.family,
        code=row.code,
        content_hash=row.content_hash,
        binary_checksum=row.binary_checksum,
        media_code=row.media_code,
        dam_updated_at=row.dam_updated_at,
        deleted=bool(row.deleted),
        last_synced_at=row.last_synced_at,
        run_id=row.run_id,
        request_id=row.request_id,
        managed_values=decode_value_keys(row.managed_values),
    )


__all__ = ["AssetAccess"]
