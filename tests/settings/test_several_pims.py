"""Several PIMs: ``[pim]`` is the PIM named ``default``, ``[pims.<name>]`` add more, a source's
``pim`` key picks one; unknown names, clashes and a missing PIM are one clear error each."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.core.errors import ConfigError
from daemon.settings.connections import DEFAULT_PIM, pick_pim
from daemon.settings.root import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "damsync.example.toml").read_text(encoding="utf-8")

EU = """
[pims.eu]
base_url = "http://pim-eu.test"
token = { env = "EU_TOKEN" }
[pims.eu.http]
max_in_flight = 2
"""

US = """
[pims.us]
base_url = "http://pim-us.test"
client_id = "us_client"
secret = { file = "SECRET_FILE" }
username = "us"
password = "us-password"
"""


def with_pims(text: str, *tables: str) -> str:
    """The example with PIM tables added before its state section (top-level tables)."""
    head, marker, rest = text.partition("# --- State")
    assert marker
    return head + "".join(tables) + marker + rest


def without_default_pim(text: str) -> str:
    """The example without its ``[pim]`` section (and its sub-tables)."""
    start, end = text.index("[pim]\n"), text.index("# --- State")
    return text[:start] + text[end:]


def source_pim(text: str, name: str) -> str:
    """The example's source pointed at the PIM ``name``."""
    old = 'name = "demo"\nkind = "rest"\n'
    assert old in text
    return text.replace(old, f'{old}pim = "{name}"\n', 1)


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env or {})


def test_the_example_is_one_pim_named_default(tmp_path):
    """The single [pim] section works as before: the PIM named default, every source's."""
    settings = load(tmp_path, EXAMPLE)
    assert [DEFAULT_PIM] == list(settings.pim_connections())
    assert DEFAULT_PIM == settings.sources[0].pim
    assert settings.pim is settings.pim_connections()[DEFAULT_PIM]
    assert settings.pim_for("demo") is settings.pim
    assert "http://127.0.0.1:8081/" == str(settings.pim.base_url)


def test_named_pims_beside_default_with_secrets(tmp_path):
    """[pims.<name>] take the same keys as [pim]; secrets come from env and files alike."""
    secret = tmp_path / "us-secret"
    secret.write_text("us-secret-from-file\n", encoding="utf-8")
    text = with_pims(source_pim(EXAMPLE, "eu"), EU, US.replace("SECRET_FILE", str(secret)))
    settings = load(tmp_path, text, {"EU_TOKEN": "eu-token-from-env"})
    pims = settings.pim_connections()
    assert [DEFAULT_PIM, "eu", "us"] == list(pims)
    assert "eu-token-from-env" == pims["eu"].token.get_secret_value()
    assert "us-secret-from-file" == pims["us"].secret.get_secret_value()
    assert 2 == pims["eu"].http.max_in_flight
    assert 4 == pims["us"].http.max_in_flight
    assert "http://pim-eu.test/" == str(settings.pim_for("demo").base_url)
    # Secrets stay out of reprs and are registered for redaction.
    assert "eu-token-from-env" not in repr(settings)
    assert "us-secret-from-file" not in repr(settings)
    assert {"eu-token-from-env", "us-secret-from-file", "us-password"} <= set(
        settings.secret_values()
    )


def test_environment_overrides_reach_named_pims(tmp_path):
    """DAMSYNC_PIMS__<NAME>__... overrides a named PIM, with the usual nested delimiter."""
    env = {
        "EU_TOKEN": "eu-token-from-env",
        "DAMSYNC_PIMS__EU__HTTP__MAX_IN_FLIGHT": "3",
        "DAMSYNC_PIMS__EU__BASE_URL": "http://pim-eu-2.test",
        "DAMSYNC_PIM__HTTP__MAX_IN_FLIGHT": "1",
    }
    settings = load(tmp_path, with_pims(EXAMPLE, EU), env)
    assert 3 == settings.pims["eu"].http.max_in_flight
    assert "http://pim-eu-2.test/" == str(settings.pims["eu"].base_url)
    assert 1 == settings.pim.http.max_in_flight


def test_only_named_pims(tmp_path):
    """Without [pim] every source names its PIM; `settings.pim` then says there is none."""
    text = with_pims(source_pim(without_default_pim(EXAMPLE), "eu"), EU)
    settings = load(tmp_path, text, {"EU_TOKEN": "eu-token-from-env"})
    assert ["eu"] == list(settings.pim_connections())
    assert "http://pim-eu.test/" == str(settings.pim_for("demo").base_url)
    with pytest.raises(ConfigError) as caught:
        _ = settings.pim
    assert "pim" == caught.value.key
    assert "no PIM named 'default'" in str(caught.value)


def test_pims_default_table_is_the_default_pim(tmp_path):
    """[pims.default] may stand for [pim]."""
    table = EU.replace("pims.eu", "pims.default")
    text = with_pims(without_default_pim(EXAMPLE), table)
    settings = load(tmp_path, text, {"EU_TOKEN": "eu-token-from-env"})
    assert "http://pim-eu.test/" == str(settings.pim.base_url)
    assert settings.pim_for("demo") is settings.pim


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        pytest.param(
            source_pim(EXAMPLE, "nope"),
            "sources",
            ["unknown PIM", "source 'demo' names pim 'nope'", "configured: default"],
            id="unknown-name",
        ),
        pytest.param(
            with_pims(EXAMPLE, EU.replace("pims.eu", "pims.default")),
            "pims",
            ["[pim] or [pims.default], not both"],
            id="default-twice",
        ),
        pytest.param(
            without_default_pim(EXAMPLE),
            "pims",
            ["no PIM configured", "[pim]"],
            id="no-pim",
        ),
        pytest.param(
            with_pims(EXAMPLE, EU.replace("pims.eu", 'pims."EU West"')),
            "pims.EU West.[key]",
            ["should match pattern"],
            id="bad-name",
        ),
        pytest.param(
            with_pims(EXAMPLE, EU.replace('token = { env = "EU_TOKEN" }\n', "")),
            "pims.eu",
            ["needs client_id, secret, username and password"],
            id="named-pim-without-credentials",
        ),
        pytest.param(
            with_pims(EXAMPLE, EU.replace("max_in_flight = 2", "max_in_flight = 0")),
            "pims.eu.http.max_in_flight",
            ["greater than or equal to 1"],
            id="named-pim-bad-value",
        ),
        pytest.param(
            source_pim(EXAMPLE, "Bad Name"),
            "sources.0.pim",
            ["should match pattern"],
            id="bad-source-pim-key",
        ),
    ],
)
def test_bad_pim_configuration_is_one_clear_error(tmp_path, text, key, words):
    """Each mistake is a ConfigError naming its key, never a traceback or a secret."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, {"EU_TOKEN": "eu-token-from-env"})
    assert key == caught.value.key
    message = str(caught.value)
    for word in words:
        assert word in message
    assert "eu-token-from-env" not in message
    assert "demo_secret" not in message


def test_unknown_pim_names_every_offender_once(tmp_path):
    """Two sources naming unknown PIMs: one error line naming both."""
    text = source_pim(EXAMPLE, "nope")
    block = text[text.index("\n[[sources]]\n") :]
    text += "\n" + block.replace('name = "demo"', 'name = "other"').replace(
        'pim = "nope"', 'pim = "gone"'
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert 1 == message.count("unknown PIM")
    assert "source 'demo' names pim 'nope'" in message
    assert "source 'other' names pim 'gone'" in message


def test_pick_pim(tmp_path):
    """The structure commands' choice: the only PIM, else default, else a name is needed."""
    one = load(tmp_path, EXAMPLE).pim_connections()
    assert DEFAULT_PIM == pick_pim(one, None)[0]
    several = load(tmp_path, with_pims(EXAMPLE, EU), {"EU_TOKEN": "t" * 8}).pim_connections()
    assert DEFAULT_PIM == pick_pim(several, None)[0]
    assert "eu" == pick_pim(several, "eu")[0]
    with pytest.raises(ConfigError) as caught:
        pick_pim(several, "us")
    assert "pims.us" == caught.value.key
    assert "configured: default, eu" in str(caught.value)
    named = {k: v for k, v in several.items() if k != DEFAULT_PIM}
    named["us"] = several["eu"]
    with pytest.raises(ConfigError) as caught:
        pick_pim(named, None)
    assert "several PIMs are configured (eu, us): name one" in str(caught.value)
