"""
The reconcile spill: the three streams in a temporary SQLite file, drift answered by joins.

A reconcile never holds every id in memory: the store's asset states, the DAM's assets and the
PIM's assets of the mapped families are written here page by page, then each kind of drift is
one query whose rows are streamed. The file lives in its own temporary directory (never the
state store) and is removed on :meth:`DriftSpill.close`.

The kinds, per family:

- ``missing``: a live DAM asset the mapping places in a listed family the PIM does not have.
- ``stale``: the PIM has it, but its values on the mapped keys differ from what the mapping
  gives now, or the store's content hash differs from the mapping's (never written as it is).
- ``orphaned``: a PIM asset damsync wrote (the store knows its family and code) that no live
  DAM asset maps to, while its DAM asset is gone after a deletion or maps elsewhere now; or one
  ``pim_owners`` holds live at a code no asset state knows (a re-key's old or half-written code)
  that no DAM asset maps to. One the deletion policy kept on purpose (ignored, marked, unlinked,
  or rejected in ``damsync deletions``) is not drift; one the brake holds still is, until settled.
- ``deleted``: a live asset of the store the DAM no longer lists (and no live asset maps to
  its code): what the scheduled sweep deletes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from daemon.store import AssetState, OwnedAsset

DriftKind = Literal["missing", "stale", "orphaned", "deleted"]
DamStatus = Literal["mapped", "unmatched", "failed", "deleted"]

#: Every kind, in the order reports list them.
DRIFT_KINDS: tuple[DriftKind, ...] = ("missing", "stale", "orphaned", "deleted")

#: SQLite's page cache for the spill, in KiB: a fixed bound, whatever the number of assets.
CACHE_KIB = 4096

_SCHEMA = """
CREATE TABLE state (dam_id TEXT PRIMARY KEY, family TEXT NOT NULL, code TEXT NOT NULL,
                    deleted INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX state_code ON state (family, code);
CREATE TABLE live (dam_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE dam (dam_id TEXT PRIMARY KEY, updated_us INTEGER NOT NULL, status TEXT NOT NULL,
                  family TEXT, code TEXT, keys TEXT, expected TEXT,
                  in_sync INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX dam_code ON dam (family, code);
CREATE TABLE pim (family TEXT NOT NULL, code TEXT NOT NULL, hash TEXT,
                  PRIMARY KEY (family, code)) WITHOUT ROWID;
CREATE TABLE listed (family TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE owned (family TEXT NOT NULL, code TEXT NOT NULL, dam_id TEXT NOT NULL,
                    action TEXT, PRIMARY KEY (family, code)) WITHOUT ROWID;
"""

_ALIVE = """(EXISTS (SELECT 1 FROM live v WHERE v.dam_id = s.dam_id)
    OR EXISTS (SELECT 1 FROM dam a WHERE a.dam_id = s.dam_id AND a.status != 'deleted'))"""
# A code some live DAM asset maps to (or would, if its mapping did not fail) is explained.
_EXPLAINED = """EXISTS (SELECT 1 FROM dam e WHERE e.family = s.family AND e.code = s.code
    AND e.status IN ('mapped', 'failed'))"""

# Withdrawn on purpose and left in the PIM by the policy or an operator: not drift.
_KEPT = """EXISTS (SELECT 1 FROM owned k WHERE k.family = s.family AND k.code = s.code
    AND k.action IN ('ignored', 'marked', 'unlinked', 'kept'))"""
# An owned live code no asset state knows (a crash between a re-key's write and its commit).
_STRAY = """SELECT o.family, o.dam_id, o.code FROM owned o
    JOIN pim p ON p.family = o.family AND p.code = o.code
    WHERE o.action IS NULL AND (:family IS NULL OR o.family = :family)
    AND NOT EXISTS (SELECT 1 FROM state t WHERE t.family = o.family AND t.code = o.code)
    AND NOT EXISTS (SELECT 1 FROM dam e WHERE e.family = o.family AND e.code = o.code
        AND e.status IN ('mapped', 'failed'))"""

_KINDS: dict[DriftKind, str] = {
    "missing": """SELECT d.family, d.dam_id, d.code FROM dam d JOIN listed l ON l.family = d.family
        WHERE d.status = 'mapped' AND (:family IS NULL OR d.family = :family)
        AND NOT EXISTS (SELECT 1 FROM pim p WHERE p.family = d.family AND p.code = d.code)""",
    "stale": """SELECT d.family, d.dam_id, d.code FROM dam d
        JOIN pim p ON p.family = d.family AND p.code = d.code
        WHERE d.status = 'mapped' AND (:family IS NULL OR d.family = :family)
        AND (d.in_sync = 0 OR p.hash IS NOT d.expected)""",
    "orphaned": f"""SELECT s.family, s.dam_id, s.code FROM state s
        JOIN pim p ON p.family = s.family AND p.code = s.code
        WHERE (:family IS NULL OR s.family = :family) AND NOT {_EXPLAINED} AND NOT {_KEPT}
        AND ((s.deleted = 1 AND NOT {_ALIVE}) OR EXISTS (SELECT 1 FROM dam r
            WHERE r.dam_id = s.dam_id AND r.status IN ('mapped', 'unmatched')))
        UNION {_STRAY}""",
    "deleted": f"""SELECT s.family, s.dam_id, s.code FROM state s
        WHERE s.deleted = 0 AND (:family IS NULL OR s.family = :family)
        AND NOT {_ALIVE} AND NOT {_EXPLAINED}""",
}


@dataclass(frozen=True, slots=True)
class DamRow:
    """
    One DAM asset as the reconcile saw it.

    Args:
        dam_id: The DAM id.
        updated_us: Its ``updated_at`` in microseconds (the newer copy of a repeat wins).
        status: Mapped, unmatched (skipped on purpose), failed (mapping errors) or deleted.
        family: The family the mapping places it in (mapped, or failed with a known key).
        code: Its code there.
        keys: The keys compared (:func:`daemon.engine.drift_values.keys_text`).
        expected: The hash of the values expected on those keys.
        in_sync: The store's content hash equals the mapping's.
    """

    dam_id: str
    updated_us: int
    status: DamStatus
    family: str | None = None
    code: str | None = None
    keys: str | None = None
    expected: str | None = None
    in_sync: bool = False


@dataclass(frozen=True, slots=True)
class DriftItem:
    """One drifted asset: its family, kind, DAM id (the store's for an orphan) and PIM code."""

    family: str
    kind: DriftKind
    dam_id: str
    code: str


class DriftSpill:
    """
    The temporary database of one reconcile of one source.

    Args:
        family: Report only this family (``--family``).
        directory: Where the temporary directory is made (default: the system's temp dir).
    """

    def __init__(self, *, family: str | None = None, directory: str | None = None) -> None:
        self.family = family
        self._dir = Path(tempfile.mkdtemp(prefix="damsync-reconcile-", dir=directory))
        # Used from one thread at a time: the store's stream is spilled from a worker thread.
        self._db = sqlite3.connect(
            self._dir / "drift.db", check_same_thread=False, isolation_level=None
        )
        # A scratch file: no journal, no fsync; a crash loses nothing worth keeping.
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "temp_store = FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.executescript(_SCHEMA)

    def __enter__(self) -> DriftSpill:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and remove its directory; idempotent."""
        self._db.close()
        # The directory holds the database alone (no journal: ``journal_mode = OFF``).
        with contextlib.suppress(FileNotFoundError):
            (self._dir / "drift.db").unlink()
        with contextlib.suppress(OSError):
            self._dir.rmdir()

    def _write(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(sql, rows)

    # --- the streams ------------------------------------------------------------------------

    def add_states(self, states: Iterable[AssetState], *, chunk: int = 1000) -> int:
        """Spill the store's asset states (run in a worker thread); returns how many."""
        count = 0
        rows: list[tuple[str, str, str, int]] = []
        for s in states:
            rows.append((s.dam_id, s.family, s.code, int(s.deleted)))
            if len(rows) >= chunk:
                count += self._flush_states(rows)
        return count + self._flush_states(rows)

    def _flush_states(self, rows: list[tuple[str, str, str, int]]) -> int:
        self._write("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)", rows)
        count = len(rows)
        rows.clear()
        return count

    def add_owned(self, owned: Iterable[OwnedAsset]) -> None:
        """The PIM assets ``pim_owners`` says the source wrote, with what was done to each."""
        self._write(
            "INSERT OR REPLACE INTO owned VALUES (?, ?, ?, ?)",
            ((o.family, o.code, o.dam_id, o.action) for o in owned),
        )

    def add_live(self, ids: Iterable[str]) -> None:
        """Ids the DAM lists as live (its id listing; unreadable records with an id)."""
        self._write("INSERT OR IGNORE INTO live VALUES (?)", ((i,) for i in ids))

    def add_dam(self, rows: Sequence[DamRow]) -> None:
        """A page of DAM assets; a repeat keeps the copy with the newer ``updated_at``."""
        self._write(
            """INSERT INTO dam VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dam_id) DO UPDATE
            SET updated_us = excluded.updated_us, status = excluded.status,
                family = excluded.family, code = excluded.code, keys = excluded.keys,
                expected = excluded.expected, in_sync = excluded.in_sync
            WHERE excluded.updated_us >= dam.updated_us""",
            [
                (r.dam_id, r.updated_us, r.status, r.family, r.code, r.keys, r.expected, r.in_sync)
                for r in rows
            ],
        )

    def add_family(self, family: str) -> None:
        """A family whose PIM assets are listed (missing, stale and orphans are looked for)."""
        self._write("INSERT OR IGNORE INTO listed VALUES (?)", [(family,)])

    def keys_for(self, family: str, codes: Sequence[str]) -> dict[str, str]:
        """The compared keys of the mapped DAM assets at these codes of ``family``."""
        marks = ",".join("?" * len(codes))
        query = f"""SELECT code, keys FROM dam WHERE status = 'mapped' AND family = ?
            AND code IN ({marks})"""
        return {code: keys for code, keys in self._db.execute(query, (family, *codes))}

    def add_pim(self, family: str, rows: Sequence[tuple[str, str | None]]) -> None:
        """A page of the PIM's assets of ``family``: ``(code, hash of the compared values)``."""
        self._write(
            "INSERT OR REPLACE INTO pim VALUES (?, ?, ?)", [(family, c, h) for c, h in rows]
        )

    # --- the answers ------------------------------------------------------------------------

    def _params(self) -> dict[str, str | None]:
        return {"family": self.family}

    def items(
        self, kind: DriftKind, *, family: str | None = None, limit: int | None = None
    ) -> Iterator[DriftItem]:
        """The drifted assets of one kind (of one family), by family and code, streamed."""
        query = f"SELECT * FROM ({_KINDS[kind]}) WHERE (:only IS NULL OR family = :only)"
        query += " ORDER BY family, code, dam_id"
        params: dict[str, str | int | None] = {**self._params(), "only": family}
        if limit is not None:
            query += " LIMIT :limit"
            params["limit"] = limit
        for fam, dam_id, code in self._db.execute(query, params):
            yield DriftItem(fam, kind, dam_id, code)

    def counts(self) -> dict[tuple[str, DriftKind], int]:
        """How many assets drifted, by family and kind (kinds without drift are absent)."""
        parts = " UNION ALL ".join(
            f"SELECT family, '{kind}' AS kind FROM ({sql})" for kind, sql in _KINDS.items()
        )
        query = f"SELECT family, kind, COUNT(*) FROM ({parts}) GROUP BY family, kind"
        return {(f, k): n for f, k, n in self._db.execute(query, self._params())}

    def chunks(
        self, kinds: Sequence[DriftKind], size: int, *, skip: Sequence[DriftKind] = ()
    ) -> Iterator[list[str]]:
        """Distinct DAM ids of ``kinds`` (minus those of ``skip``), ``size`` at a time."""
        union = " UNION ".join(f"SELECT dam_id FROM ({_KINDS[k]})" for k in kinds)
        query = f"SELECT dam_id FROM ({union})"
        if skip:
            skipped = " UNION ".join(f"SELECT dam_id FROM ({_KINDS[k]})" for k in skip)
            query += f" WHERE dam_id NOT IN ({skipped})"
        cursor = self._db.execute(query + " ORDER BY dam_id", self._params())
        while batch := cursor.fetchmany(size):
            yield [dam_id for (dam_id,) in batch]

    def repairs(self, size: int, *, resend: bool) -> Iterator[list[str]]:
        """
        DAM ids ``--fix`` repairs, ``size`` at a time: re-sent (missing, stale, and orphans whose
        DAM asset maps somewhere now: writing it withdraws its other codes) or, with ``resend``
        false, sent as tombstones (deleted, and the other orphans).
        """
        mapped = "SELECT dam_id FROM dam WHERE status = 'mapped'"
        orphans = f"SELECT dam_id FROM ({_KINDS['orphaned']})"
        if resend:
            query = f"""SELECT dam_id FROM ({_KINDS["missing"]}) UNION
                SELECT dam_id FROM ({_KINDS["stale"]}) UNION
                SELECT dam_id FROM ({orphans}) WHERE dam_id IN ({mapped})"""
        else:
            query = f"""SELECT dam_id FROM ({_KINDS["deleted"]}) UNION
                SELECT dam_id FROM ({orphans}) WHERE dam_id NOT IN ({mapped})"""
        cursor = self._db.execute(f"SELECT dam_id FROM ({query}) ORDER BY dam_id", self._params())
        while batch := cursor.fetchmany(size):
            yield [dam_id for (dam_id,) in batch]

    def known(self) -> int:
        """Live assets of the store in scope: the mass-deletion brake's denominator."""
        query = "SELECT COUNT(*) FROM state s WHERE s.deleted = 0"
        query += " AND (:family IS NULL OR s.family = :family)"
        (count,) = self._db.execute(query, self._params()).fetchone()
        return int(count)

    def families(self) -> list[str]:
        """The families whose PIM assets were listed."""
        return [f for (f,) in self._db.execute("SELECT family FROM listed ORDER BY family")]


__all__ = ["DRIFT_KINDS", "DamRow", "DamStatus", "DriftItem", "DriftKind", "DriftSpill"]
