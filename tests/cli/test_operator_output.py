"""Operator commands: JSON for scripts, tables that fit 80 columns, run history, one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_runs_lists_past_passes_as_a_table_and_as_json(env):
    """`runs` shows every pass, newest first, with its counts; JSON carries ISO UTC times."""
    assert 0 == invoke("sync", "--once", "--config", str(env.config)).exit_code
    assert 0 == invoke("sync", "--once", "--config", str(env.config)).exit_code
    table = invoke("runs", "--config", str(env.config))
    assert 0 == table.exit_code, table.output
    assert all(len(line) <= 80 for line in table.output.splitlines())
    rows = json.loads(invoke("runs", "--config", str(env.config), "--format", "json").output)
    assert 2 == len(rows)
    assert rows[0]["id"] > rows[1]["id"]
    assert 120 == rows[1]["read"] and 0 == rows[1]["failed"]
    assert rows[0]["started_at"].endswith("Z") and rows[0]["finished_at"].endswith("Z")


def test_runs_before_any_pass_says_so(env):
    """An empty history is one plain sentence, not an empty table."""
    result = invoke("runs", "--config", str(env.config))
    assert 0 == result.exit_code
    assert "no runs yet" in result.output


def test_status_fits_80_columns_and_prints_the_whole_cursor(env):
    """The table fits a terminal; the cursor is printed in full below it, and in JSON."""
    invoke("sync", "--once", "--config", str(env.config))
    table = invoke("status", "--config", str(env.config))
    assert 0 == table.exit_code
    assert all(len(line) <= 80 for line in table.output.splitlines())
    rows = json.loads(invoke("status", "--config", str(env.config), "--format", "json").output)
    cursor = rows[0]["cursor"]
    assert f"demo: cursor {cursor['updated_at']} {cursor['id']}" in table.output
    assert "success" == rows[0]["last_run"]["status"]


def test_failures_list_says_when_empty_and_pages_with_limit(env):
    """No failures is a sentence; --limit cuts the list and says how many more there are."""
    empty = invoke("failures", "list", "--config", str(env.config))
    assert "no failures" in empty.output
    with env.dam_client() as dam:
        for item in dam.get("/_sim/assets").json()["items"][:3]:
            metadata = dict(item["metadata"], width="not a number")
            dam.post("/_sim/mutate", json={"id": item["id"], "metadata": metadata})
    assert 1 == invoke("sync", "--once", "--config", str(env.config)).exit_code
    rows = json.loads(
        invoke("failures", "list", "--config", str(env.config), "--format", "json").output
    )
    assert len(rows) >= 2
    limited = invoke("failures", "list", "--config", str(env.config), "--limit", "1")
    assert f"{len(rows) - 1} more" in limited.output
    assert all("width" in row["reason"] for row in rows)
    shown = json.loads(
        invoke(
            "failures", "show", str(rows[0]["id"]), "--config", str(env.config), "--format", "json"
        ).output
    )
    assert rows[0]["reason"] == shown["reason"]


def test_checkpoint_show_accepts_source_and_refuses_an_unknown_one(env):
    """`checkpoint show --source` filters; an unknown source is one usage line (exit 2)."""
    invoke("sync", "--once", "--config", str(env.config))
    shown = invoke("checkpoint", "show", "--source", "demo", "--config", str(env.config))
    assert shown.output.startswith("demo: cursor ")
    unknown = CliRunner().invoke(
        main, ["checkpoint", "show", "--source", "nope", "--config", str(env.config)]
    )
    assert 2 == unknown.exit_code
    assert "no source named 'nope'" in unknown.output


def _with_db(config: Path, url: str, tmp_path: Path) -> Path:
    text = config.read_text(encoding="utf-8")
    start = text.index('url = "sqlite:///')
    end = text.index("\n", start)
    broken = tmp_path / "broken.toml"
    broken.write_text(text[:start] + f'url = "{url}"' + text[end:], encoding="utf-8")
    return broken


BROKEN_STORES = {
    "unreachable postgres": "postgresql+psycopg://nobody:secret@127.0.0.1:1/none",
    "missing sqlite directory": "sqlite:////nonexistent-dir/x/state.db",
}
COMMANDS = [
    ["status"],
    ["runs"],
    ["failures", "list"],
    ["failures", "show", "1"],
    ["failures", "retry", "all"],
    ["checkpoint", "show"],
    ["checkpoint", "rewind", "--source", "demo", "--since", "beginning"],
    ["validate-config"],
]


@pytest.mark.parametrize("store", sorted(BROKEN_STORES))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_operator_command_reports_a_broken_store_in_one_line(env, tmp_path, store, command):
    """A wrong database URL is one line naming the store (no password) and exit 1."""
    config = _with_db(env.config, BROKEN_STORES[store], tmp_path)
    result = CliRunner().invoke(main, [*command, "--config", str(config)])
    assert 1 == result.exit_code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "state store" in result.output
    assert "secret" not in result.output
    assert 1 == len([line for line in result.output.splitlines() if line.startswith("Error")])


@pytest.mark.postgres
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_empty_postgres_database_is_one_line_saying_to_upgrade(env, tmp_path, command):
    """A database without the schema is one line naming the fix, not a traceback."""
    url = os.environ.get("DAMSYNC_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("DAMSYNC_TEST_DATABASE_URL is not set")
        pytest.skip("DAMSYNC_TEST_DATABASE_URL is not set")
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    schema = "damsync_empty_cli"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    empty = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    config = _with_db(env.config, empty, tmp_path)
    result = CliRunner().invoke(main, [*command, "--config", str(config)])
    assert 1 == result.exit_code, result.output
    assert "Traceback" not in result.output
    assert "upgrade" in result.output


@pytest.mark.parametrize("dry_run", [False, True], ids=["sync", "dry-run"])
def test_sync_once_reports_a_broken_store_in_one_line(env, tmp_path, dry_run):
    """`sync --once` against an unreachable database: one `damsync:` line, exit 2, no traceback."""
    config = _with_db(env.config, BROKEN_STORES["unreachable postgres"], tmp_path)
    args = ["sync", "--once", "--config", str(config), *(["--dry-run"] if dry_run else [])]
    result = CliRunner().invoke(main, args)
    assert 2 == result.exit_code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert 1 == len([line for line in result.output.splitlines() if line.startswith("damsync:")])
    assert "secret" not in result.output
