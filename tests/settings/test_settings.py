"""Loading the configuration: TOML, environment overrides, secrets, errors naming keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.core.errors import ConfigError
from daemon.settings.root import load_settings

BASE = """
[pim]
base_url = "http://127.0.0.1:8081"
client_id = "c"
secret = "s3cr3t"
username = "u"
password = "pw"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_file_with_defaults(tmp_path):
    """A minimal file loads and fills defaults."""
    settings = load_settings(write(tmp_path, BASE), {})
    assert 4 == settings.pim.http.max_in_flight
    assert "s3cr3t" == settings.pim.secret.get_secret_value()  # type: ignore[union-attr]


def test_secret_never_in_repr(tmp_path):
    """Secrets are masked in reprs."""
    settings = load_settings(write(tmp_path, BASE), {})
    assert "s3cr3t" not in repr(settings)
    assert "pw'" not in repr(settings)


def test_environment_overrides_file(tmp_path):
    """DAMSYNC_<SECTION>__<KEY> wins over the file, nested sections included."""
    env = {"DAMSYNC_PIM__HTTP__MAX_IN_FLIGHT": "2", "DAMSYNC_LOG_LEVEL": "debug"}
    settings = load_settings(write(tmp_path, BASE), env)
    assert 2 == settings.pim.http.max_in_flight


def test_secret_from_env_and_file(tmp_path):
    """A secret can come from an environment variable or a file."""
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    text = BASE.replace('secret = "s3cr3t"', 'secret = {env = "AK_SECRET"}').replace(
        'password = "pw"', f'password = {{file = "{tmp_path / "pw"}"}}'
    )
    settings = load_settings(write(tmp_path, text), {"AK_SECRET": "from-env"})
    assert "from-env" == settings.pim.secret.get_secret_value()  # type: ignore[union-attr]
    assert "from-file" == settings.pim.password.get_secret_value()  # type: ignore[union-attr]


def test_missing_env_secret_names_the_key(tmp_path):
    """A secret pointing at an unset variable fails with its config path."""
    text = BASE.replace('secret = "s3cr3t"', 'secret = {env = "NOPE"}')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), {})
    assert "pim.secret" == info.value.key
    assert "NOPE" in str(info.value)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[pim.http]\nmax_in_flight = 0\n", "pim.http.max_in_flight"),
        ("[pim.http]\nmax_inflight = 3\n", "pim.http.max_inflight"),
        ("[pim.http.retry]\nattempts = 0\n", "pim.http.retry.attempts"),
    ],
)
def test_bad_values_name_their_key(tmp_path, extra, key):
    """Out-of-range values and typos are refused with the dotted key."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, BASE + extra), {})
    assert key == info.value.key


def test_token_and_connection_are_exclusive(tmp_path):
    """An App token and connection credentials cannot be mixed."""
    with pytest.raises(ConfigError, match="either token"):
        load_settings(write(tmp_path, BASE + 'token = "t"\n'), {})


def test_app_token_alone_is_enough(tmp_path):
    """A connected-App token needs no other credentials."""
    text = '[pim]\nbase_url = "http://pim.test"\ntoken = "app-token"\n'
    assert load_settings(write(tmp_path, text), {}).pim.token is not None


def test_unreadable_toml_is_a_config_error(tmp_path):
    """Broken TOML is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path, "[pim\n"), {})


def test_missing_file_is_a_config_error(tmp_path):
    """A missing file is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml", {})
