"""
A migration's progress in a local SQLite file (``damsync migrate-pam --progress FILE``), so that
a re-run continues where one stopped. Without ``--progress`` the progress is kept in the state
database of ``--config`` instead (``daemon.store.pam_progress_store``, the same three facts).

Three facts are kept, each committed as soon as it is true:

- ``file_key``: a legacy file key and the SHA-256 of its content (a re-run does not download a
  file it already hashed);
- ``media``: a content's SHA-256 and the Asset Manager media file code it was uploaded as (a
  content is uploaded once, whatever the number of keys or runs that hold it);
- ``asset``: an asset written to its family, with the fingerprint of what was written (a re-run
  skips it while the PAM still gives the same).

An upload is recorded right after the PIM answered with its code; a process killed in between
(a few milliseconds) uploads that one file again on the next run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class ProgressFile:
    """
    The progress of one migration in its own file (``--progress``: no state database needed).

    Args:
        path: The SQLite file, created when missing.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS file_key (key TEXT PRIMARY KEY, checksum TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS media (checksum TEXT PRIMARY KEY, code TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS asset (
                family TEXT NOT NULL, code TEXT NOT NULL, fingerprint TEXT NOT NULL,
                PRIMARY KEY (family, code)
            );
            """
        )

    def __repr__(self) -> str:
        return f"ProgressFile({str(self.path)!r})"

    def __enter__(self) -> ProgressFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, *args: str) -> str | None:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else str(row[0])

    def key_checksum(self, key: str) -> str | None:
        """The SHA-256 of a file key's content, when a run hashed it."""
        return self._one("SELECT checksum FROM file_key WHERE key = ?", key)

    def media_code(self, checksum: str) -> str | None:
        """The media file code a content was uploaded as, if it was."""
        return self._one("SELECT code FROM media WHERE checksum = ?", checksum)

    def remember_file(self, key: str, checksum: str) -> None:
        """A file key's content hash."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO file_key VALUES (?, ?)", (key, checksum))

    def remember_media(self, checksum: str, code: str) -> None:
        """A content uploaded as ``code``."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO media VALUES (?, ?)", (checksum, code))

    def asset_fingerprint(self, family: str, code: str) -> str | None:
        """The fingerprint of what was written for an asset, if it was."""
        return self._one(
            "SELECT fingerprint FROM asset WHERE family = ? AND code = ?", family, code
        )

    def remember_assets(self, family: str, written: list[tuple[str, str]]) -> None:
        """Assets the PIM accepted: (code, fingerprint) each."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO asset VALUES (?, ?, ?)",
                [(family, code, fingerprint) for code, fingerprint in written],
            )

    def counts(self) -> dict[str, int]:
        """Rows per fact, for the summary."""
        return {
            table: int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("file_key", "media", "asset")
        }


__all__ = ["ProgressFile"]
