"""SIGHUP on a real `damsync run` process: a new schedule applies, a bad config is refused."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.runtime.conftest import free_port, migrate, write_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def set_interval(config, interval: str) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^interval = \S+", f"interval = {interval}", text, count=1))


def passes_during(daemon, seconds: float) -> int:
    before = len(daemon.events("sync.pass_finished"))
    time.sleep(seconds)
    return len(daemon.events("sync.pass_finished")) - before


def test_sighup_applies_a_new_poll_interval(tmp_path, sims, start_daemon):
    """After the config file's interval changes and SIGHUP arrives, passes follow the new one."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    port = free_port()
    config = write_config(tmp_path / "c.toml", sims, store_url=url, server_port=port, interval=60)
    migrate(url)
    daemon = start_daemon(config, port)
    daemon.wait_event("sync.pass_finished")
    slow = passes_during(daemon, 2.0)
    set_interval(config, "0.4")
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("config.reloaded")
    fast = passes_during(daemon, 3.0)
    daemon.signal(signal.SIGTERM)
    assert 0 == daemon.wait_exit(timeout=15)
    assert (0, True) == (slow, fast >= 3), fast


def test_invalid_config_on_reload_keeps_the_running_one(tmp_path, sims, start_daemon):
    """A config that fails validation on SIGHUP logs config.reload_failed naming the key, and
    the daemon goes on with its running configuration."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    port = free_port()
    config = write_config(tmp_path / "c.toml", sims, store_url=url, server_port=port, interval=0.4)
    migrate(url)
    daemon = start_daemon(config, port)
    daemon.wait_event("sync.pass_finished", count=2)
    set_interval(config, "-5")
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_event("config.reload_failed")
    assert "interval" in failed[0]["error"]
    assert "running configuration" == failed[0]["kept"]
    kept = passes_during(daemon, 2.0)
    assert 200 == daemon.get("/healthz").status_code
    daemon.signal(signal.SIGTERM)
    assert 0 == daemon.wait_exit(timeout=15)
    assert kept >= 2
    assert [] == daemon.events("config.reloaded")
