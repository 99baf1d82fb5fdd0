"""
The variation rows of a CSV export, spilled to a temporary SQLite file and read back per asset.

CsvToAsset indexes every variation in memory, which is why its merge runs out of memory
(``pam-migration.md`` §9). Here ``variations.csv`` is read once into an indexed table on disk,
in any order, and each asset of ``assets.csv`` asks for its own rows: memory stays flat whatever
the number of rows. The asset codes seen are kept in the same file, so that rows of an asset
``assets.csv`` does not have are found at the end without a set in memory.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Rows inserted per transaction while spilling.
CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class VariationRow:
    """One row of ``variations.csv`` (empty strings: empty cells)."""

    line: int
    channel: str
    locale: str
    reference_file: str
    variation_file: str


class VariationSpill:
    """A temporary SQLite file holding the variation rows by asset; a context manager."""

    def __init__(self, directory: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="damsync-pam-", dir=directory)
        self._db = sqlite3.connect(Path(self._dir.name) / "variations.sqlite")
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -2048;
            CREATE TABLE variation (
                asset TEXT NOT NULL, line INTEGER NOT NULL, channel TEXT NOT NULL,
                locale TEXT NOT NULL, reference_file TEXT NOT NULL, variation_file TEXT NOT NULL
            );
            CREATE TABLE bad_row (asset TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT NOT NULL);
            CREATE TABLE seen (code TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
            """
        )
        self._pending: list[tuple[str, int, str, str, str, str]] = []
        self._indexed = False

    def __enter__(self) -> VariationSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def add(self, asset: str, row: VariationRow) -> None:
        """Spill one variation row."""
        self._pending.append(
            (asset, row.line, row.channel, row.locale, row.reference_file, row.variation_file)
        )
        if len(self._pending) >= CHUNK:
            self._flush()

    def add_bad(self, asset: str, line: int, reason: str) -> None:
        """Remember a variation row of ``asset`` that could not be read."""
        self._db.execute("INSERT INTO bad_row VALUES (?, ?, ?)", (asset, line, reason))

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO variation VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._pending.clear()
        self._db.commit()

    def _index(self) -> None:
        if not self._indexed:
            self._flush()
            self._db.execute("CREATE INDEX variation_asset ON variation (asset, line)")
            self._db.execute("CREATE INDEX bad_row_asset ON bad_row (asset)")
            self._indexed = True

    def rows_of(self, asset: str) -> list[VariationRow]:
        """The rows of one asset, in file order (a handful: channels x locales)."""
        self._index()
        found = self._db.execute(
            "SELECT line, channel, locale, reference_file, variation_file FROM variation "
            "WHERE asset = ? ORDER BY line",
            (asset,),
        )
        return [VariationRow(*row) for row in found]

    def bad_rows_of(self, asset: str) -> list[tuple[int, str]]:
        """(line, reason) of the unreadable rows of one asset."""
        self._index()
        found = self._db.execute(
            "SELECT line, reason FROM bad_row WHERE asset = ? ORDER BY line", (asset,)
        )
        return [(int(line), str(reason)) for line, reason in found]

    def first_seen(self, code: str, line: int) -> int | None:
        """
        Record that ``assets.csv`` has ``code`` at ``line``.

        Returns:
            None the first time; else the line where the code was first seen.
        """
        try:
            self._db.execute("INSERT INTO seen VALUES (?, ?)", (code, line))
        except sqlite3.IntegrityError:
            row = self._db.execute("SELECT line FROM seen WHERE code = ?", (code,)).fetchone()
            return int(row[0])
        return None

    def orphans(self) -> Iterator[tuple[str, int, int]]:
        """(asset, rows, first line) of the variation rows whose asset was never seen."""
        self._index()
        self._db.commit()
        yield from self._db.execute(
            "SELECT asset, COUNT(*), MIN(line) FROM variation "
            "WHERE asset NOT IN (SELECT code FROM seen) GROUP BY asset ORDER BY MIN(line)"
        )


__all__ = ["VariationRow", "VariationSpill"]
