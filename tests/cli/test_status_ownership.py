"""`damsync status`: who owns each source, since when, and its lease, on the database clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from daemon.cli.main import main
from daemon.store import Store
from daemon.store.tables import leases
from tests.cli.conftest import ROOT

HOLDER = "replica-a:4242:987654"


@pytest.fixture(name="setup")
def _setup(tmp_path: Path) -> Iterator[tuple[Path, Store]]:
    """The example configuration (one source, ``demo``) on a SQLite store at head."""
    db_url = f"sqlite:///{tmp_path / 'state.db'}"
    example = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config = tmp_path / "damsync.toml"
    config.write_text(example.replace("sqlite:///damsync.db", db_url), encoding="utf-8")
    store = Store.from_url(db_url)
    store.upgrade()
    yield config, store
    store.dispose()


def status(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["status", "--config", str(config), *args])
    assert 0 == result.exit_code, result.output
    return result.output


def lease_json(config: Path) -> dict[str, Any] | None:
    (row,) = json.loads(status(config, "--format", "json"))
    assert "demo" == row["source"]
    lease: dict[str, Any] | None = row["lease"]
    return lease


def ownership_row(output: str) -> list[str]:
    """The cells of ``demo``'s row in the ownership table (the table after the blank line)."""
    table = output.split("\n\n", 1)[1].splitlines()
    assert ["source", "epoch", "owned", "for", "lease", "owner"] == table[0].split()
    (row,) = [line for line in table[2:] if line.startswith("demo ")]
    return row.split("  ")


def test_a_source_never_taken_says_so(setup):
    config, _ = setup
    assert lease_json(config) is None
    cells = [c.strip() for c in ownership_row(status(config)) if c.strip()]
    assert ["demo", "-", "-", "never taken", "-"] == cells


def test_the_owner_since_when_and_the_time_left_in_table_and_json(setup):
    config, store = setup
    lease = store.acquire_lease("demo", HOLDER, 600)
    assert lease is not None

    shown = lease_json(config)
    assert shown is not None
    (standing,) = store.lease_standings()
    assert {
        "state": "held",
        "holder": HOLDER,
        "epoch": 1,
        "since": standing.acquired_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": standing.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "released_at": None,
    } == {key: value for key, value in shown.items() if key != "database_time"}
    database_time = datetime.fromisoformat(shown["database_time"].replace("Z", "+00:00"))
    assert standing.acquired_at.replace(microsecond=0) <= database_time
    assert database_time <= standing.expires_at

    output = status(config)
    assert HOLDER in output
    cells = [c.strip() for c in ownership_row(output) if c.strip()]
    assert ["demo", "1"] == cells[:2]
    assert cells[3].endswith(" left") and cells[3] != "0s left"
    assert HOLDER == cells[4]
    assert all(len(line) <= 80 for line in output.splitlines())


def test_an_expired_lease_shows_expired_with_its_last_owner(setup):
    config, store = setup
    store.acquire_lease("demo", HOLDER, 600)
    with store.engine.begin() as conn:
        past = datetime(2020, 1, 1, tzinfo=UTC)
        conn.execute(update(leases).where(leases.c.source == "demo").values(expires_at=past))

    shown = lease_json(config)
    assert shown is not None
    assert ("expired", HOLDER, "2020-01-01T00:00:00Z") == (
        shown["state"],
        shown["holder"],
        shown["expires_at"],
    )
    cells = [c.strip() for c in ownership_row(status(config)) if c.strip()]
    assert cells[3].startswith("expired ") and cells[3].endswith(" ago")
    assert HOLDER == cells[4]


def test_a_released_lease_has_no_owner_and_says_when_it_was_released(setup):
    config, store = setup
    lease = store.acquire_lease("demo", HOLDER, 600)
    assert lease is not None and store.release_lease(lease)

    shown = lease_json(config)
    assert shown is not None
    assert ("released", None, 2, None, None) == (
        shown["state"],
        shown["holder"],
        shown["epoch"],
        shown["since"],
        shown["expires_at"],
    )
    assert shown["released_at"].endswith("Z")
    cells = [c.strip() for c in ownership_row(status(config)) if c.strip()]
    assert "demo" == cells[0] and "2" == cells[1]
    assert cells[-2].startswith("released ") and cells[-1] == "-"
    assert HOLDER not in status(config)


def test_a_long_owner_name_is_cut_to_80_columns_in_the_table_and_whole_in_json(setup):
    config, store = setup
    holder = "damsync-" + "x" * 80 + ":1:2"
    store.acquire_lease("demo", holder, 600)
    output = status(config)
    assert all(len(line) <= 80 for line in output.splitlines())
    assert holder[:30] in output and holder not in output
    shown = lease_json(config)
    assert shown is not None and holder == shown["holder"]
