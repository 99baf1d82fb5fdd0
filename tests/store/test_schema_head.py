"""The schema-head check without Alembic: the same answer, the same refusal, the same message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from daemon.core.errors import CheckpointError
from daemon.store import SchemaNotAtHeadError, Store
from daemon.store.database import (
    MIGRATIONS_DIR,
    alembic_config,
    check_at_head,
    current_revisions,
    downgrade,
    head_revisions,
    make_engine,
    upgrade,
)
from daemon.store.schema_revisions import shipped_revisions

ROOT = Path(__file__).resolve().parents[2]


def _alembic_current(url: str) -> tuple[str, ...]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def _one_behind() -> tuple[str, str]:
    """The shipped head and the revision it revises."""
    script = ScriptDirectory.from_config(alembic_config())
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str), "the head must revise exactly one revision"
    return head, previous


def test_shipped_revisions_read_from_text_are_alembics():
    """The heads and the known revisions read from the files' text are those Alembic loads."""
    script = ScriptDirectory.from_config(alembic_config())
    shipped = shipped_revisions(MIGRATIONS_DIR / "versions")
    assert set(script.get_heads()) == set(shipped.heads)
    assert {rev.revision for rev in script.walk_revisions()} == shipped.known
    assert tuple(script.get_heads()) == head_revisions()


def test_shipped_revisions_follow_branches_merges_and_annotations(tmp_path):
    """Two branches are two heads; a merge (a tuple of parents) makes them one again."""
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n', encoding="utf-8")
    (tmp_path / "b.py").write_text(
        'revision: str = "b"\ndown_revision: str | None = "a"\n', encoding="utf-8"
    )
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n', encoding="utf-8")
    (tmp_path / "__init__.py").write_text('revision = "ignored"\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text('revision = "ignored too"\n', encoding="utf-8")
    branched = shipped_revisions(tmp_path)
    assert ("b", "c") == branched.heads
    assert frozenset({"a", "b", "c"}) == branched.known
    (tmp_path / "d.py").write_text('revision = "d"\ndown_revision = ("b", "c")\n', encoding="utf-8")
    assert ("d",) == shipped_revisions(tmp_path).heads


def test_a_revision_file_without_a_literal_revision_is_refused(tmp_path):
    """A file whose revision id cannot be read is an error, never silently skipped."""
    (tmp_path / "x.py").write_text("revision = make_id()\ndown_revision = None\n", "utf-8")
    with pytest.raises(CheckpointError, match="x.py"):
        shipped_revisions(tmp_path)


def test_current_revisions_are_alembics_at_every_step(empty_url):
    """Never migrated, one revision behind and at head: the same answer as Alembic's."""
    head, previous = _one_behind()
    engine = make_engine(empty_url)
    try:
        assert () == current_revisions(engine) == _alembic_current(empty_url)
        upgrade(empty_url)
        assert (head,) == current_revisions(engine) == _alembic_current(empty_url)
        downgrade(empty_url, revision=previous)
        assert (previous,) == current_revisions(engine) == _alembic_current(empty_url)
    finally:
        engine.dispose()


def test_a_database_one_revision_behind_is_refused(empty_url):
    """The check refuses the revision before head with the one-line fix."""
    head, previous = _one_behind()
    upgrade(empty_url)
    downgrade(empty_url, revision=previous)
    store = Store.from_url(empty_url)
    try:
        with pytest.raises(SchemaNotAtHeadError) as caught:
            store.check_at_head()
    finally:
        store.dispose()
    assert (
        f"database schema is at {previous}, expected head {head}: run `damsync db upgrade`"
        == str(caught.value)
    )
    assert (previous,) == caught.value.current
    assert False is caught.value.unknown


def test_check_at_head_passes_at_head(url):
    """A migrated database passes the check."""
    engine = make_engine(url)
    try:
        check_at_head(engine)
    finally:
        engine.dispose()


def test_status_one_revision_behind_is_one_line_and_exit_1(tmp_path):
    """`damsync status` on a database one revision behind: one line naming the fix, exit 1."""
    head, previous = _one_behind()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    downgrade(url, revision=previous)
    config = tmp_path / "damsync.toml"
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config.write_text(example.replace("sqlite:///damsync.db", url), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "status", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert 1 == done.returncode
    assert "" == done.stdout
    assert (
        f"Error: state store {url}: SchemaNotAtHeadError: database schema is at {previous}, "
        f"expected head {head}: run `damsync db upgrade`\n"
    ) == done.stderr
