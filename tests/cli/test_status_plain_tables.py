"""
`status`, `runs` and `failures list` print plain-text tables, without importing rich.

Importing rich for a table cost a read-only command 5 % of its start-up (callgrind); these
tests check what is printed and, in a fresh interpreter, what is not imported (no timing is
asserted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.store import RunCounts, Store
from daemon.store.tables import failures
from tests.cli.conftest import ROOT

REASON = "width: 'not a number' is not a number " + "(the DAM's metadata field) " * 5


@pytest.fixture(name="setup", scope="module")
def _setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example configuration on a SQLite store holding two runs and one failure."""
    directory = tmp_path_factory.mktemp("plain-tables")
    db_url = f"sqlite:///{directory / 'state.db'}"
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config = directory / "damsync.toml"
    config.write_text(example.replace("sqlite:///damsync.db", db_url), encoding="utf-8")
    store = Store.from_url(db_url)
    store.upgrade()
    first = store.start_run("demo")
    store.finish_run(first, "success", RunCounts(seen=120, written=118, failed=2))
    second = store.start_run("demo")
    store.finish_run(second, "failed", RunCounts(seen=3), error="PimUnavailable: 503")
    now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(
            failures.insert().values(
                source="demo",
                dam_id="asset-7",
                stage="mapping",
                error_type="MappingError",
                detail=REASON + "\nsecond line",
                attempts=2,
                permanent=False,
                dead_lettered=False,
                first_failed_at=now,
                last_failed_at=now,
                next_attempt_at=now,
            )
        )
    store.dispose()
    yield config


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    return result.output


def test_runs_is_an_aligned_table_newest_first_with_the_error_lines_below(setup):
    lines = invoke("runs", "--config", str(setup)).splitlines()
    assert ["id", "source", "started", "(UTC)", "took", "status", "read", "wrote", "failed"] == (
        lines[0].split()
    )
    assert set(lines[1]) == {"-", " "}
    newest, oldest = lines[2].split(), lines[3].split()
    assert ["2", "demo"] == newest[:2] and ["failed", "3", "0", "0"] == newest[-4:]
    assert ["1", "demo"] == oldest[:2] and ["success", "120", "118", "2"] == oldest[-4:]
    # Counts are right-aligned under their header.
    end = lines[0].index("read") + len("read")
    assert ("   3", " 120") == (lines[2][end - 4 : end], lines[3][end - 4 : end])
    assert "run 2: PimUnavailable: 503" == lines[4]
    assert all(len(line) <= 80 for line in lines)


def test_failures_list_shows_the_first_line_of_the_reason_cut_with_an_ellipsis(setup):
    lines = invoke("failures", "list", "--config", str(setup)).splitlines()
    assert ["id", "source", "dam", "id", "stage", "tries", "state", "reason"] == lines[0].split()
    row = lines[2]
    assert row.split()[:5] == ["1", "demo", "asset-7", "mapping", "2"]
    assert "due 2026-12-07T06:00:00Z" in row
    assert row.endswith("…") and REASON[:59] in row and "second line" not in row
    assert "full reason: damsync failures show ID" == lines[-1]
    shown = json.loads(invoke("failures", "list", "--config", str(setup), "--format", "json"))
    assert REASON + "\nsecond line" == shown[0]["reason"]


def test_status_is_two_tables_and_the_cursor_lines(setup):
    output = invoke("status", "--config", str(setup))
    progress, ownership = output.split("\n\n")
    lines = progress.splitlines()
    assert ["source", "data", "lag", "last", "run", "ended", "last", "ok", "pending", "dead"] == (
        lines[0].split()
    )
    assert ["demo", "-", "failed"] == lines[2].split()[:3]
    assert ["1", "0"] == lines[2].split()[-2:]
    assert "demo: cursor none yet" == lines[3]
    assert ownership.splitlines()[2].split()[0] == "demo"


PROBE = """
import sys
from daemon.cli.main import main
try:
    main(sys.argv[1:], prog_name="damsync")
except SystemExit:
    pass
print("RICH", any(m == "rich" or m.startswith("rich.") for m in sys.modules))
"""


@pytest.mark.parametrize("command", [["status"], ["runs"], ["failures", "list"]], ids=" ".join)
def test_the_tables_do_not_import_rich(setup, command):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command, "--config", str(setup)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert "RICH False" in done.stdout.splitlines(), done.stdout + done.stderr
    assert "demo" in done.stdout
