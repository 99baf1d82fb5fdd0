"""``[replicas]``: the heartbeat (capped at a third of ``store.lease_ttl``) and ``spread``."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.core.errors import ConfigError
from daemon.settings.replicas import ReplicaSettings
from daemon.settings.root import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "damsync.example.toml"


@pytest.mark.parametrize(
    ("heartbeat", "ttl", "expected"),
    [(None, 600, 200), (None, 30, 10), (5, 30, 5), (20, 30, 10), (0.5, 3, 0.5)],
)
def test_the_heartbeat_is_a_third_of_the_lease_at_most(heartbeat, ttl, expected):
    assert expected == pytest.approx(ReplicaSettings(heartbeat=heartbeat).heartbeat_for(ttl))


def test_the_file_and_the_environment_set_the_replica_keys(tmp_path):
    path = tmp_path / "damsync.toml"
    path.write_text(EXAMPLE.read_text() + "\n[replicas]\nheartbeat = 4\n", encoding="utf-8")
    settings = load_settings(path, {"DAMSYNC_REPLICAS__SPREAD": "false"})
    assert (4, False) == (settings.replicas.heartbeat, settings.replicas.spread)
    assert ReplicaSettings() == load_settings(EXAMPLE, {}).replicas


@pytest.mark.parametrize("bad", ["0", "-1", "inf", '"soon"'])
def test_a_bad_heartbeat_is_refused_naming_the_key(tmp_path, bad):
    path = tmp_path / "damsync.toml"
    path.write_text(EXAMPLE.read_text() + f"\n[replicas]\nheartbeat = {bad}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "replicas.heartbeat" in str(caught.value)
