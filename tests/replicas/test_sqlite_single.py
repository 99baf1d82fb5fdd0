"""SQLite is single-process: a second ``damsync run`` on the same file says so and exits 3."""

from __future__ import annotations

import pytest

from daemon.engine.replica_leases import EXIT_SECOND_PROCESS
from tests.runtime.conftest import _sims, _sims_factory, _start_daemon, migrate, write_config

from .rig import start_replica

__all__ = ["_sims", "_sims_factory", "_start_daemon"]  # fixtures registered by import

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_second_daemon_on_one_sqlite_file_exits_3_naming_the_first(sims, start_daemon, tmp_path):
    """The first runs on; the second refuses at start with one line and exit code 3; once the
    first has stopped, a new one starts."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    migrate(url)
    configs = [
        write_config(tmp_path / f"d{i}.toml", sims, store_url=url, server_port=0) for i in range(3)
    ]
    first = start_replica(start_daemon, configs[0])
    first.wait_event("runtime.started", timeout=30)
    second = start_daemon(configs[1], 0)
    assert EXIT_SECOND_PROCESS == second.wait_exit(30)
    (line,) = second.events("runtime.refused_to_start")
    holder = first.events("runtime.replica_joined")[0]["holder"]
    assert holder in line["error"]
    assert "SQLite allows one process" in line["error"]
    assert [] == second.events("runtime.started")
    assert None is first.process.poll()

    first.kill()  # SIGKILL: its heartbeat row stays, but its process is gone
    third = start_replica(start_daemon, configs[2])
    third.wait_event("runtime.started", timeout=30)
    forgotten = third.events("runtime.dead_process_forgotten")
    assert [holder] == [e["holder"] for e in forgotten]
