"""SIGTERM and SIGINT on a real `damsync run` process: the batch in flight commits, then exit."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest

from daemon.mapping import sanitise_code
from tests.runtime.conftest import cli, free_port, migrate, query, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def committed_codes(db) -> set[str]:
    rows = query(db, "SELECT code FROM asset_states WHERE source = 'demo' AND deleted = 0")
    return {code for (code,) in rows}


def batch_committed(db) -> bool:
    try:
        return bool(committed_codes(db))
    except sqlite3.Error:  # not created yet, or busy: ask again
        return False


def expected_codes(dam) -> set[str]:
    live = [a for a in dam if not a["deleted"]]
    images = {sanitise_code(a["id"]) for a in live if a["type"] == "image"}
    pdfs = {sanitise_code(f"notice_{a['id']}") for a in live if a["type"] == "pdf"}
    return images | pdfs


def test_sigterm_mid_pass_commits_the_batch_and_exits_zero_within_grace(
    tmp_path, sims_factory, start_daemon
):
    """A SIGTERM during a pass commits the batch in flight, exits 0 within shutdown_grace, and
    everything committed is in the PIM (a later pass completes the rest)."""
    sims = sims_factory(assets=150, latency=0.15)
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    grace = 5.0
    port = free_port()
    config = write_config(
        tmp_path / "c.toml", sims, store_url=url, server_port=port, grace=grace, batch_size=20
    )
    migrate(url)
    daemon = start_daemon(config, port)
    wait_for(lambda: batch_committed(db), 30, "a first committed batch")
    daemon.signal(signal.SIGTERM)
    sent = time.monotonic()
    code = daemon.wait_exit(timeout=grace + 10)
    elapsed = time.monotonic() - sent
    assert 0 == code, daemon.output()
    assert elapsed < grace + 2, elapsed
    assert daemon.events("sync.pass_stopping"), "the pass was not in flight"
    assert [("aborted",)] == query(db, "SELECT status FROM sync_runs")
    cursor = query(db, "SELECT cursor_id FROM sync_checkpoints WHERE source = 'demo'")
    assert cursor and cursor[0][0], "the committed batches moved no cursor"
    pim = sims.pim_codes("packshots") | sims.pim_codes("notices")
    written = committed_codes(db)
    assert set() == written - pim
    assert expected_codes(sims.dam_assets()) != pim, "the pass finished: nothing was in flight"

    sims.dam_options(latency=0)
    resumed = cli(["sync", "--once", "--config", str(config)], timeout=120)
    assert 0 == resumed.returncode, resumed.stderr
    pim = sims.pim_codes("packshots") | sims.pim_codes("notices")
    assert expected_codes(sims.dam_assets()) == pim


def test_second_signal_exits_at_once(tmp_path, sims_factory, start_daemon):
    """A second SIGTERM while the first still waits for a slow batch exits at once (130)."""
    sims = sims_factory(assets=60, latency=1.0)
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    port = free_port()
    config = write_config(
        tmp_path / "c.toml", sims, store_url=url, server_port=port, grace=60, batch_size=20
    )
    migrate(url)
    daemon = start_daemon(config, port)
    daemon.wait_event("runtime.started")
    time.sleep(1.5)  # the first page is read and downloads of the first batch are under way
    daemon.signal(signal.SIGTERM)
    daemon.wait_event("runtime.stopping", timeout=10)
    daemon.signal(signal.SIGTERM)
    sent = time.monotonic()
    code = daemon.wait_exit(timeout=10)
    assert (130, True) == (code, time.monotonic() - sent < 3)
    assert daemon.events("runtime.second_signal_exit")
