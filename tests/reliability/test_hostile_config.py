"""
Hostile configuration files: each ends in a ConfigError naming the bad key, never a crash.

Promise: a wrong configuration is refused at load time with a message that names which key is
wrong and why, and never echoes a secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.core.errors import ConfigError
from daemon.settings.root import load_settings
from tests.reliability.conftest import config_text

BASE = config_text("http://127.0.0.1:1", "http://127.0.0.1:2", "sqlite:///x.db")

CASES = [
    ("wrong-type", {"interval = 10 ": 'interval = "often" '}, "interval"),
    ("unknown-key", {"lookback = 300": "lookback = 300\nlookbak = 5"}, "lookbak"),
    ("bad-cron", {"interval = 10 ": 'cron = "61 * * * *" '}, "cron"),
    ("bad-url", {'base_url = "http://127.0.0.1:1"': 'base_url = "not a url"'}, "base_url"),
    ("missing-env", {'secret = "demo_secret"': 'secret = { env = "NO_SUCH_VAR_X" }'}, "secret"),
    (
        "missing-file",
        {'secret = "demo_secret"': 'secret = { file = "/nonexistent/secret" }'},
        "secret",
    ),
    ("batch-too-big", {"batch_size = 100": "batch_size = 1000"}, "batch_size"),
    ("bad-policy", {'delete_policy = "delete"': 'delete_policy = "shred"'}, "delete_policy"),
    ("negative-ttl", {"lease_ttl = 1": "lease_ttl = -5"}, "lease_ttl"),
]


@pytest.mark.parametrize(("edits", "key"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_key_is_named(tmp_path: Path, edits: dict[str, str], key: str) -> None:
    """Each hostile edit gives a ConfigError whose message names the offending key."""
    text = BASE
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert key in str(caught.value)
    assert "demo_secret" not in str(caught.value)


def test_missing_pim_section_is_named(tmp_path: Path) -> None:
    """A file without its [pim] section names the missing section."""
    head, _, rest = BASE.partition("[pim]")
    rest = rest[rest.index("# --- State") :]
    path = tmp_path / "c.toml"
    path.write_text(head + rest)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "pim" in str(caught.value)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A file that is not TOML at all is a ConfigError naming the file, not a crash."""
    path = tmp_path / "c.toml"
    path.write_text("[pim\nbase_url = ")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "c.toml" in str(caught.value) or "TOML" in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml", {})
    assert "absent.toml" in str(caught.value)


def test_env_override_with_wrong_type_is_named(tmp_path: Path) -> None:
    """An environment override of the wrong type names its key."""
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"DAMSYNC_STORE__LEASE_TTL": "forever"})
    assert "lease_ttl" in str(caught.value)
