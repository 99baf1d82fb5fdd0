"""Cron's `sync --once` with nothing changed: one DAM request, no PIM request (no token either)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from click.testing import CliRunner

from daemon.cli.main import main
from daemon.engine.clock_memory import boot_id
from daemon.store import Store, pim_identity


def requests(url: str) -> dict[str, int]:
    stats = httpx.get(f"{url}/_sim/stats").json()["requests"]
    return {k: sum(v.values()) for k, v in stats.items() if "/_sim" not in k}


def test_a_second_sync_once_reads_no_structure_and_probes_no_clock(env):
    """
    The second run (a new store, app and clients on the same database) lists once and asks the
    PIM nothing: the structure and the DAM's clock come from the state database.
    """
    if boot_id() is None:
        pytest.skip("this system names no boot: the DAM's clock is probed once per process")
    args = ["sync", "--once", "--config", str(env.config)]
    first = CliRunner().invoke(main, args)
    assert 0 == first.exit_code, first.output
    pim_before, dam_before = requests(env.pim), requests(env.dam)
    second = CliRunner().invoke(main, args)
    assert 0 == second.exit_code, second.output
    pim = {k: v - pim_before.get(k, 0) for k, v in requests(env.pim).items()}
    dam = {k: v - dam_before.get(k, 0) for k, v in requests(env.dam).items()}
    assert {} == {k: v for k, v in pim.items() if v}
    assert 1 == sum(dam.values())
    store = Store.from_url(env.db_url)
    try:
        persisted = store.load_structure(pim_identity(env.pim), datetime(2000, 1, 1, tzinfo=UTC))
        reading = store.dam_clock("demo")
    finally:
        store.dispose()
    assert persisted.families and persisted.channels is not None
    assert reading is not None and boot_id() == reading.boot_id
