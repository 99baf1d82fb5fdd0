"""``damsync events list|retry``: the inbox's depth and dead rows, and requeuing them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from daemon.cli.main import main
from daemon.core.events import DamEvent
from daemon.store import Store
from tests.cli.conftest import ROOT

RECEIVED = datetime.now(UTC) - timedelta(minutes=5)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(name="setup")
def _setup(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """The example config (one source, ``demo``) on an empty SQLite store at head."""
    db_url = f"sqlite:///{tmp_path / 'state.db'}"
    text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config = tmp_path / "damsync.toml"
    config.write_text(text.replace("sqlite:///damsync.db", db_url), encoding="utf-8")
    store = Store.from_url(db_url)
    store.upgrade()
    yield str(config), store
    store.dispose()


def _add(store: Store, source: str, *event_ids: str) -> None:
    store.add_events(
        [DamEvent(source, e, (f"{e}-a",), "changed", RECEIVED, "nats") for e in event_ids]
    )


def _kill(store: Store, source: str, error: str = "PIM said 422") -> list[int]:
    claimed = store.claim_events(source, "c1", limit=100, claim_seconds=30)
    ids = [e.id for e in claimed]
    store.release_events(ids, "c1", error=error, retry_at=datetime.now(UTC), max_attempts=1)
    return ids


def test_list_of_an_empty_inbox_says_so(setup):
    config, _ = setup
    result = invoke("events", "list", "--config", config)
    assert (0, "the event inbox is empty\n") == (result.exit_code, result.output)
    result = invoke("events", "list", "--config", config, "--source", "demo", "--dead")
    assert (0, "the event inbox is empty of source demo\n") == (result.exit_code, result.output)
    result = invoke("events", "list", "--config", config, "--format", "json", "--dead")
    assert {"sources": [], "dead_events": []} == json.loads(result.output)


def test_list_shows_depth_and_with_dead_the_dead_rows_newest_first(setup):
    """Per source waiting/oldest/dead; --dead adds the rows with their error; --limit cuts."""
    config, store = setup
    _add(store, "demo", "e1", "e2")
    first, second = _kill(store, "demo", "first line\nsecond line")
    _add(store, "demo", "e3")
    _add(store, "old", "e4")

    plain = invoke("events", "list", "--config", config)
    assert 0 == plain.exit_code, plain.output
    lines = plain.output.splitlines()
    assert ["source", "waiting", "oldest", "dead"] == lines[0].split()
    # RECEIVED is 5 minutes before the module was imported: a slow run shows a minute or two more.
    demo, old = lines[2].split(), lines[3].split()
    assert (["demo", "1", "2"], ["old", "1", "0"]) == (demo[:2] + demo[3:], old[:2] + old[3:])
    assert all(cell[-1] == "m" and 5 <= int(cell[:-1]) <= 30 for cell in (demo[2], old[2]))
    assert "damsync events list --dead" in plain.output
    assert "e1-a" not in plain.output

    dead = invoke("events", "list", "--config", config, "--dead", "--source", "demo")
    assert 0 == dead.exit_code, dead.output
    assert not [line for line in dead.output.splitlines() if line.startswith("old ")]
    rows = [r for r in map(str.split, dead.output.splitlines()) if r and r[0].isdigit()]
    assert [str(second), str(first)] == [r[0] for r in rows]
    assert ["demo", "e2", "e2-a", "changed", "nats"] == rows[0][1:6]
    assert ["1", "first", "line"] == rows[0][7:]
    assert "second line" not in dead.output

    cut = invoke("events", "list", "--config", config, "--dead", "--limit", "1")
    assert "more dead events" in cut.output
    assert str(first) not in [line.split()[0] for line in cut.output.splitlines() if line]


def test_list_as_json(setup):
    """JSON: every source's depth; the dead rows with the full error only with --dead."""
    config, store = setup
    _add(store, "demo", "e1")
    (dead_id,) = _kill(store, "demo", "first line\nsecond line")
    _add(store, "demo", "e2")
    plain = json.loads(invoke("events", "list", "--config", config, "--format", "json").output)
    assert ["sources"] == list(plain)
    (demo,) = plain["sources"]
    assert {"source": "demo", "pending": 1, "dead": 1} == {
        k: demo[k] for k in ("source", "pending", "dead")
    }
    assert (
        RECEIVED.isoformat(timespec="seconds").replace("+00:00", "Z") == (demo["oldest_pending_at"])
    )
    # RECEIVED is fixed at import: the age is 5 minutes plus however long the run took since.
    since_received = (datetime.now(UTC) - RECEIVED).total_seconds()
    assert 290 < demo["oldest_pending_age_seconds"] <= since_received + 1
    listed = invoke("events", "list", "--config", config, "--format", "json", "--dead")
    (row,) = json.loads(listed.output)["dead_events"]
    assert {
        "id": dead_id,
        "source": "demo",
        "event_id": "e1",
        "dam_id": "e1-a",
        "kind": "changed",
        "origin": "nats",
        "attempts": 1,
        "last_error": "first line\nsecond line",
    } == {k: v for k, v in row.items() if k not in ("received_at", "died_at")}
    assert row["died_at"].endswith("Z")


def test_retry_by_id_and_unknown_ids(setup):
    """Named dead rows go back to pending (exit 0); an id that is not dead means exit 1."""
    config, store = setup
    _add(store, "demo", "e1", "e2")
    first, second = _kill(store, "demo")
    result = invoke("events", "retry", "--config", config, str(first))
    assert 0 == result.exit_code, result.output
    assert result.output.startswith("1 dead event(s) back to pending")
    assert [second] == [r.id for r in store.dead_event_rows()]
    claimed = store.claim_events("demo", "c2", limit=10, claim_seconds=30)
    assert [(first, 1)] == [(e.id, e.attempts) for e in claimed]

    again = invoke("events", "retry", "--config", config, str(first), "999", str(second))
    assert 1 == again.exit_code
    assert "1 dead event(s) back to pending" in again.output
    assert "2 id(s) not retried: no dead event with that id" in again.output


def test_retry_all_and_of_one_source(setup):
    """--all --source takes that source's dead rows only; an id of another source is refused."""
    config, store = setup
    _add(store, "demo", "e1", "e2")
    _add(store, "old", "e3")
    _kill(store, "demo")
    (other,) = _kill(store, "old")
    refused = invoke("events", "retry", "--config", config, "--source", "demo", str(other))
    assert 1 == refused.exit_code
    assert "no dead event of source demo with that id" in refused.output
    result = invoke("events", "retry", "--config", config, "--all", "--source", "demo")
    assert (0, "2 dead event(s)") == (result.exit_code, result.output[:15])
    assert ["old"] == [r.source for r in store.dead_event_rows()]
    result = invoke("events", "retry", "--config", config, "--all")
    assert (0, "1 dead event(s)") == (result.exit_code, result.output[:15])
    assert [] == store.dead_event_rows()
    assert {"demo": 2, "old": 1} == {s: d.pending for s, d in store.inbox_depth().items()}


@pytest.mark.parametrize(
    "args",
    [["retry"], ["retry", "1", "--all"], ["list", "--source", "nosuch"]],
    ids=" ".join,
)
def test_usage_errors_exit_2(setup, args):
    """No ids and no --all, both, or an unknown source: exit 2, nothing done."""
    config, _ = setup
    result = invoke("events", *args, "--config", config)
    assert 2 == result.exit_code


def test_a_store_not_at_head_is_one_line_and_exit_1(tmp_path):
    """An unmigrated store: one line naming the database, exit 1, no traceback."""
    db_url = f"sqlite:///{tmp_path / 'empty.db'}"
    text = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")
    config = tmp_path / "damsync.toml"
    config.write_text(text.replace("sqlite:///damsync.db", db_url), encoding="utf-8")
    for args in (["list"], ["retry", "--all"]):
        result = invoke("events", *args, "--config", str(config))
        assert 1 == result.exit_code
        assert 1 == len(result.output.strip().splitlines())
        assert "empty.db" in result.output
