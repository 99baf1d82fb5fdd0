"""
:class:`PamProgressStore`: the progress of ``damsync migrate-pam`` in the state database.

It implements the engine's ``PamProgress`` (:mod:`daemon.engine.pam_write`) on the tables of
:mod:`daemon.store.pam_tables`, every row scoped by the target PIM's configured name:

- an uploaded content (``remember_media``) is committed at once: the PIM has it, and a re-run
  must never upload it again (a process killed between the PIM's answer and this commit, a few
  milliseconds, uploads that one file again);
- file key hashes are kept in memory and written with the next batch of assets, in the same
  transaction (``executemany``): losing them costs a download and a hash, never an upload,
  because the content's media code is found by its hash;
- the assets of a batch (``remember_assets``) and those pending hashes: one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from daemon.store import database as engines
from daemon.store.pam_tables import pam_assets, pam_file_keys, pam_media
from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import dialect_insert

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: File key hashes held before they are written without a batch of assets.
PENDING_KEYS = 500


class PamProgressStore(SessionBoundary):
    """
    What earlier runs of a migration into one PIM did.

    Args:
        engine: The state database's engine (:func:`daemon.store.database.make_engine`).
        pim: The target PIM's configured name (``default`` for ``[pim]``).
    """

    def __init__(self, engine: Engine, pim: str) -> None:
        super().__init__(engine)
        self.pim = pim
        self._keys: dict[str, str] = {}

    @classmethod
    def from_url(cls, url: str, pim: str) -> PamProgressStore:
        """Open the store at ``url`` for migrations into ``pim``; :meth:`close` when done."""
        return cls(engines.make_engine(url), pim)

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"PamProgressStore({url!r}, pim={self.pim!r})"

    def __enter__(self) -> PamProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_at_head(self) -> None:
        """
        Refuse a schema that is not at head (it may lack the progress tables).

        Raises:
            SchemaNotAtHeadError: Names the revisions and ``damsync db upgrade``.
        """
        with self._translated("check_at_head"):
            engines.check_at_head(self._engine)

    def close(self) -> None:
        """Write the pending file key hashes and release the connections."""
        try:
            self.flush()
        finally:
            self._engine.dispose()

    def _value(self, operation: str, statement: Any) -> str | None:
        with self._read(operation) as session:
            value = session.execute(statement).scalar_one_or_none()
        return None if value is None else str(value)

    def key_checksum(self, key: str) -> str | None:
        """The SHA-256 of a file key's content, when a run hashed it."""
        if key in self._keys:
            return self._keys[key]
        t = pam_file_keys
        statement = select(t.c.checksum).where(t.c.pim == self.pim, t.c.key == key)
        return self._value("pam_key_checksum", statement)

    def media_code(self, checksum: str) -> str | None:
        """The media file code a content was uploaded as, if it was."""
        t = pam_media
        statement = select(t.c.code).where(t.c.pim == self.pim, t.c.checksum == checksum)
        return self._value("pam_media_code", statement)

    def asset_fingerprint(self, family: str, code: str) -> str | None:
        """The fingerprint of what was written for an asset, if it was."""
        t = pam_assets
        statement = select(t.c.fingerprint).where(
            t.c.pim == self.pim, t.c.family == family, t.c.code == code
        )
        return self._value("pam_asset_fingerprint", statement)

    def remember_file(self, key: str, checksum: str) -> None:
        """A file key's content hash (written with the next batch)."""
        self._keys[key] = checksum
        if len(self._keys) >= PENDING_KEYS:
            self.flush()

    def remember_media(self, checksum: str, code: str) -> None:
        """A content uploaded as ``code``: committed now."""
        with self._write("pam_remember_media") as session:
            _upsert(session, pam_media, ["code"], [{"checksum": checksum, "code": code}], self.pim)

    def remember_assets(self, family: str, written: list[tuple[str, str]]) -> None:
        """Assets the PIM accepted, (code, fingerprint) each, and the pending hashes: one commit."""
        rows = [{"family": family, "code": c, "fingerprint": f} for c, f in written]
        keys = self._pending()
        if not rows and not keys:
            return
        with self._write("pam_remember_assets") as session:
            _upsert(session, pam_file_keys, ["checksum"], keys, self.pim)
            _upsert(session, pam_assets, ["fingerprint"], rows, self.pim)
        self._keys.clear()

    def flush(self) -> None:
        """Write the pending file key hashes."""
        keys = self._pending()
        if keys:
            with self._write("pam_remember_files") as session:
                _upsert(session, pam_file_keys, ["checksum"], keys, self.pim)
            self._keys.clear()

    def _pending(self) -> list[dict[str, str]]:
        return [{"key": k, "checksum": c} for k, c in self._keys.items()]

    def counts(self) -> dict[str, int]:
        """Rows per fact for this PIM, for the summary."""
        counted: dict[str, int] = {}
        with self._read("pam_counts") as session:
            for name, table in (("file_key", pam_file_keys), ("media", pam_media)):
                statement = select(func.count()).where(table.c.pim == self.pim)
                counted[name] = int(session.execute(statement).scalar_one())
            statement = select(func.count()).where(pam_assets.c.pim == self.pim)
            counted["asset"] = int(session.execute(statement).scalar_one())
        return counted


def _upsert(
    session: Connection, table: Any, updated: list[str], rows: list[dict[str, str]], pim: str
) -> None:
    """Insert or replace ``rows`` of ``table`` for ``pim``: one executemany."""
    if not rows:
        return
    insert = dialect_insert(session.dialect.name, table)
    keys = [c.name for c in table.primary_key.columns]
    statement = insert.on_conflict_do_update(
        index_elements=keys, set_={name: insert.excluded[name] for name in updated}
    )
    session.execute(statement, [{"pim": pim, **row} for row in rows])


__all__ = ["PENDING_KEYS", "PamProgressStore"]
