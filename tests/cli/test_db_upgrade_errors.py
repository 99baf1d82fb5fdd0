"""``damsync db upgrade`` turns a damaged migration tree into one clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.store import database


def test_two_migration_heads_give_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS_DIR, migrations)
    (migrations / "versions" / "0099_stray.py").write_text(
        'revision = "0099"\ndown_revision = "0001"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    monkeypatch.setattr(database, "MIGRATIONS_DIR", migrations)
    url = f"sqlite:///{tmp_path / 'state.db'}"

    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", url])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: the migrations cannot be applied:")
    assert "head" in lines[0]
