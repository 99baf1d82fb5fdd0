"""`damsync run` refuses a database whose schema is not at head; `--migrate` fixes it."""

from __future__ import annotations

import signal

import pytest

from tests.runtime.conftest import free_port, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_run_refuses_a_schema_not_at_head_and_migrate_fixes_it(tmp_path, sims, start_daemon):
    """On a never-migrated database the daemon exits 1 naming `damsync db upgrade`; with
    --migrate it upgrades and starts."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    port = free_port()
    config = write_config(tmp_path / "c.toml", sims, store_url=url, server_port=port)
    refused = start_daemon(config, port)
    assert 1 == refused.wait_exit(timeout=30)
    assert "damsync db upgrade" in refused.output()
    assert refused.events("runtime.refused_to_start")
    assert [] == refused.events("runtime.started")

    fixed = start_daemon(config, port, "--migrate")
    fixed.wait_event("sync.pass_finished")
    fixed.signal(signal.SIGTERM)
    assert 0 == fixed.wait_exit(timeout=15)
