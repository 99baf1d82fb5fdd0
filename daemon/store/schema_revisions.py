"""
The schema revisions without Alembic: the shipped ones, read from the migration files' text, and
the database's, read from Alembic's own ``alembic_version`` table.

Every command that opens the store checks that its schema is at head. Importing Alembic for
that check (and, through it, Mako and Pygments) cost more than the rest of a read-only
command's start-up, so the check reads what Alembic would read, the same way: a revision file
is a ``*.py`` file of the versions directory (not ``__init__.py``, not an editor's ``.#`` lock
file) that assigns the literals ``revision`` and ``down_revision``; the heads are the revisions
no other revision revises; the database's revisions are the rows of ``alembic_version``, none
when the table does not exist. A test compares both answers with Alembic's own. Migrating
(``damsync db upgrade``) still goes through Alembic.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, column, inspect, select, table

from daemon.core.errors import CheckpointError

#: Alembic's version table (``version_table`` is left at its default in ``migrations/env.py``).
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True, slots=True)
class ShippedRevisions:
    """
    The revision graph of the migrations shipped with this damsync version.

    Args:
        known: Every revision id.
        heads: The revisions nothing revises, sorted (one, unless the history branched).
    """

    known: frozenset[str]
    heads: tuple[str, ...]


def shipped_revisions(versions: Path) -> ShippedRevisions:
    """
    Read the revision ids and their parents from the migration files' text.

    Args:
        versions: The migrations' ``versions`` directory.

    Returns:
        The known revisions and the heads.

    Raises:
        CheckpointError: A revision file does not assign its ids as plain literals.
    """
    known: set[str] = set()
    revised: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        if path.name.startswith((".#", "__init__")):
            continue
        revision, parents = _ids(path)
        known.add(revision)
        revised.update(parents)
    return ShippedRevisions(frozenset(known), tuple(sorted(known - revised)))


def _ids(path: Path) -> tuple[str, tuple[str, ...]]:
    """A revision file's ``revision`` and the revisions its ``down_revision`` names."""
    values: dict[str, object] = {}
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                values[target.id] = ast.literal_eval(value)
    except (OSError, SyntaxError, ValueError) as exc:
        raise CheckpointError(f"cannot read the migration {path}: {exc}") from exc
    revision = values.get("revision")
    parents = values.get("down_revision")
    if isinstance(parents, str):
        parents = (parents,)
    elif parents is None:
        parents = ()
    if (
        not isinstance(revision, str)
        or not isinstance(parents, tuple | list)
        or not all(isinstance(parent, str) for parent in parents)
    ):
        raise CheckpointError(
            f"cannot read the migration {path}: `revision` and `down_revision` must be "
            "string literals (or a tuple of them)"
        )
    return revision, tuple(str(parent) for parent in parents)


def database_revisions(conn: Connection) -> tuple[str, ...]:
    """
    The revision(s) the database is at, as Alembic records them.

    Args:
        conn: An open connection to the store's database.

    Returns:
        Empty for a database never migrated (no version table) or migrated down to base.
    """
    if not inspect(conn).has_table(VERSION_TABLE):
        return ()
    versions = table(VERSION_TABLE, column("version_num"))
    return tuple(str(row) for row in conn.scalars(select(versions.c.version_num)))


__all__ = ["VERSION_TABLE", "ShippedRevisions", "database_revisions", "shipped_revisions"]
