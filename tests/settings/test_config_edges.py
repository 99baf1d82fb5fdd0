"""
Configuration edge cases refused at load time, each with a ConfigError naming its key: infinite or
absurd durations, cron together with interval, an unsupported store, non-web DAM URLs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.core import secret_values
from daemon.core.errors import ConfigError
from daemon.settings.dam_sources import MAX_SECONDS, load_source_settings
from daemon.settings.root import load_settings

PIM = """
[pim]
base_url = "http://127.0.0.1:8081"
client_id = "c"
secret = "pim-secret-value"
username = "u"
password = "pim-password-value"
"""

SOURCE = """
[[sources]]
name = "dam"
kind = "rest"
[sources.schedule]
interval = 10
[sources.rest]
base_url = "https://dam.example"
changes_path = "/assets"
[sources.rest.paging]
style = "page"
[sources.rest.auth]
type = "api_key_header"
api_key = "dam-api-key-value"
[[sources.mapping.families]]
family = "packshots"
"""


@pytest.fixture(autouse=True)
def _keep_known_secrets():
    """Loading remembers secrets process-wide; leave the set as it was."""
    saved = secret_values.known()
    yield
    secret_values.forget_all()
    secret_values.remember(saved)


def load(tmp_path: Path, text: str):
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, {})


def refused(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


def test_the_base_configuration_loads(tmp_path):
    settings = load(tmp_path, PIM + SOURCE)
    assert 10 == settings.sources[0].schedule.interval


@pytest.mark.parametrize("value", ["inf", "+inf", "nan", "1e12", str(MAX_SECONDS + 1), "0", "-5"])
def test_an_interval_must_be_finite_and_bounded(tmp_path, value):
    """``inf`` and ``1e12`` passed validation and crashed the scheduler with OverflowError."""
    error = refused(tmp_path, PIM + SOURCE.replace("interval = 10", f"interval = {value}"))
    assert "sources.0.schedule.interval" == error.key
    assert "\n" not in str(error)


def test_the_documented_maximum_itself_is_accepted(tmp_path):
    settings = load(tmp_path, PIM + SOURCE.replace("interval = 10", f"interval = {MAX_SECONDS}"))
    assert MAX_SECONDS == settings.sources[0].schedule.interval == 366 * 86400


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("[sources.schedule]", "jitter", "inf"),
        ("[sources.schedule]", "misfire_grace", "1e12"),
        ("[sources.schedule]", "reconcile_interval", "inf"),
        ("[sources.sync]", "lookback", "inf"),
        ("[sources.sync]", "settle_delay", "1e12"),
        ("[sources.rest]", "clock_anchor_max_age", "inf"),
        ("[sources.rest]", "future_tolerance", "1e12"),
        ("[sources.rest.auth]", "refresh_margin", "inf"),
    ],
)
def test_every_source_duration_is_finite_and_bounded(tmp_path, section, key, value):
    text = (
        SOURCE
        if section in SOURCE
        else SOURCE.replace("[sources.rest]", f"{section}\n[sources.rest]")
    )
    text = text.replace(section, f"{section}\n{key} = {value}", 1)
    error = refused(tmp_path, PIM + text)
    assert error.key is not None and error.key.endswith(key)


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("store", "lease_ttl", "inf"),
        ("failures", "base_seconds", "1e12"),
        ("failures", "max_seconds", "inf"),
        ("failures", "factor", "1e300"),
        ("server", "readiness_multiple", "inf"),
        ("runtime", "retry_interval", "inf"),
        ("runtime", "structure_ttl", "1e12"),
        ("runtime", "shutdown_grace", "nan"),
    ],
)
def test_every_global_duration_is_finite_and_bounded(tmp_path, table, key, value):
    error = refused(tmp_path, PIM + f"[{table}]\n{key} = {value}\n")
    assert f"{table}.{key}" == error.key


def test_a_backoff_cap_below_its_base_is_refused(tmp_path):
    """It used to pass validation and fail later when the backoff policy was built."""
    error = refused(tmp_path, PIM + "[failures]\nbase_seconds = 600\nmax_seconds = 60\n")
    assert "failures" == error.key
    assert "max_seconds (60) is below base_seconds (600)" in str(error)


def test_cron_and_interval_together_are_refused(tmp_path):
    """Neither silently wins: the message says to pick one."""
    text = SOURCE.replace("interval = 10", 'interval = 10\ncron = "*/5 * * * *"')
    error = refused(tmp_path, PIM + text)
    assert "sources.0.schedule" == error.key
    assert "set either interval or cron, not both" in str(error)


def test_cron_alone_is_fine(tmp_path):
    settings = load(tmp_path, PIM + SOURCE.replace("interval = 10", 'cron = "*/5 * * * *"'))
    assert "*/5 * * * *" == settings.sources[0].schedule.cron


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///state.db", "sqlite:///state.db"),
        ("sqlite://", "sqlite://"),
        ("postgresql+psycopg://u@db/damsync", "postgresql+psycopg://u@db/damsync"),
        # psycopg (3) is the driver installed: plain postgresql would ask for psycopg2
        ("postgresql://u@db/damsync", "postgresql+psycopg://u@db/damsync"),
    ],
)
def test_sqlite_and_postgresql_store_urls_are_accepted(tmp_path, url, expected):
    assert expected == load(tmp_path, PIM + f'[store]\nurl = "{url}"\n').store.url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://x", "unsupported database 'mysql'"),
        ("postgres://u:hunter2-db@db/x", "unsupported database 'postgres'"),
        ("postgresql+psycopg2://u@db/x", "unsupported database 'postgresql+psycopg2'"),
        ("damsync.db", "not a database URL"),
    ],
)
def test_other_store_urls_are_one_clear_line(tmp_path, url, problem):
    """``mysql://x`` used to end in a traceback; the URL (and its password) is not echoed."""
    error = refused(tmp_path, PIM + f'[store]\nurl = "{url}"\n')
    assert "store.url" == error.key
    assert problem in str(error)
    assert "sqlite:///path.db or postgresql+psycopg://user@host/db" in str(error)
    assert "hunter2" not in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "(no scheme)"),
        ("file:///etc", "(scheme 'file')"),
        ("ftp://user:hunter2-ftp@dam.example/", "(scheme 'ftp')"),
        ("dam.example/api", "(no scheme)"),
        ("https://", "with a host"),
    ],
)
def test_a_dam_base_url_must_be_http_or_https(tmp_path, url, problem):
    """These used to fail later as transient errors, retried forever."""
    error = refused(
        tmp_path, PIM + SOURCE.replace('base_url = "https://dam.example"', f'base_url = "{url}"')
    )
    assert "sources.0.rest.base_url" == error.key
    assert "must be an http:// or https:// URL" in str(error) and problem in str(error)
    assert "hunter2" not in str(error)


def test_source_tables_are_checked_alone_too():
    """``load_source_settings`` (one ``[[sources]]`` table) names the key under the source."""
    table = {
        "name": "dam",
        "kind": "rest",
        "rest": {"base_url": "file:///etc", "changes_path": "/a", "paging": {"style": "page"}},
    }
    with pytest.raises(ConfigError) as info:
        load_source_settings(table)
    assert "sources.dam.rest.base_url" == info.value.key


@pytest.mark.parametrize(
    ("token_url", "ok"),
    [
        ("https://auth.example/token", True),
        ("/oauth/token", True),  # on the DAM itself
        ("ftp://auth.example/token", False),
        ("file:///token", False),
    ],
)
def test_an_oauth2_token_url_is_http_or_a_path(tmp_path, token_url, ok):
    auth = (
        '[sources.rest.auth]\ntype = "oauth2"\nclient_id = "c"\nclient_secret = "cs-value"\n'
        f'token_url = "{token_url}"\n'
    )
    text = SOURCE.replace(
        '[sources.rest.auth]\ntype = "api_key_header"\napi_key = "dam-api-key-value"\n', auth
    )
    if ok:
        assert token_url == load(tmp_path, PIM + text).sources[0].rest.auth.token_url
    else:
        assert "sources.0.rest.auth.token_url" == refused(tmp_path, PIM + text).key


@pytest.mark.parametrize("value", ["inf", "1e12"])
def test_folder_durations_are_finite_and_bounded(value):
    table = {
        "name": "hot",
        "kind": "folder",
        "folder": {"path": "/srv/hot", "settle_seconds": float(value)},
    }
    with pytest.raises(ConfigError) as info:
        load_source_settings(table)
    assert "sources.hot.folder.settle_seconds" == info.value.key


def test_loading_remembers_every_configured_secret_for_redaction(tmp_path):
    """The PIM's secret and password, the sources' keys and the store URL's password."""
    secret_values.forget_all()
    text = PIM + SOURCE + '[store]\nurl = "postgresql://damsync:db-password-value@db/damsync"\n'
    settings = load(tmp_path, text)
    expected = {"pim-secret-value", "pim-password-value", "dam-api-key-value", "db-password-value"}
    assert expected == set(settings.secret_values())
    assert expected == secret_values.known()


def test_values_too_short_to_mask_safely_are_not_remembered(tmp_path):
    """A four-letter password (the example's ``demo``) would mask the source of that name."""
    secret_values.forget_all()
    load(tmp_path, PIM.replace("pim-password-value", "demo"))
    assert "demo" not in secret_values.known()
    assert "pim-secret-value" in secret_values.known()


def test_a_refused_configuration_remembers_nothing(tmp_path):
    secret_values.forget_all()
    refused(tmp_path, PIM + '[store]\nurl = "mysql://x"\n')
    assert frozenset() == secret_values.known()
