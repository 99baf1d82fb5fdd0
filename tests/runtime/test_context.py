"""Log context on a real `damsync run` process: passes carry source and run_id, jobs start clean."""

from __future__ import annotations

import signal

import pytest

from tests.runtime.conftest import free_port, migrate, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_pass_lines_carry_source_and_run_id_and_other_lines_do_not(tmp_path, sims, start_daemon):
    """Every line of a pass carries its source and run_id; each pass has its own run_id, and
    lines outside a pass (scheduler, runtime) carry none left over from the previous job."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    port = free_port()
    config = write_config(tmp_path / "c.toml", sims, store_url=url, server_port=port, interval=0.5)
    migrate(url)
    daemon = start_daemon(config, port)
    daemon.wait_event("sync.pass_finished", count=3)
    daemon.signal(signal.SIGTERM)
    assert 0 == daemon.wait_exit(timeout=15)
    lines = daemon.lines()
    in_pass = [line for line in lines if line.get("event", "").startswith(("sync.", "pim."))]
    assert [] == [line for line in in_pass if "demo" != line.get("source") or "run_id" not in line]
    finished = [line["run_id"] for line in lines if line.get("event") == "sync.pass_finished"]
    assert len(finished) == len(set(finished))
    outside = [
        line
        for line in lines
        if line.get("event", "").startswith(("runtime.", "server."))
        or "executed successfully" in line.get("event", "")
    ]
    assert outside
    assert [] == [line for line in outside if "run_id" in line or "source" in line]
