"""
Hostile configurations: each is refused at load time by one ConfigError (see ``corpus.py``).

The error names the key (its dotted path) and why, and never quotes a secret: neither the
configured one nor a password inside a refused URL. ``{tmp}`` in an edit is the test's
``tmp_path``, where ``prepare`` leaves the files a case needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from daemon.core import secret_values
from daemon.core.errors import ConfigError
from daemon.settings.root import load_settings
from tests.reliability.conftest import config_text
from tests.reliability.corpus import Case, params

BASE = config_text("http://127.0.0.1:1", "http://127.0.0.1:2", "sqlite:///x.db")
SECRETS = ("demo_secret", "hunter2-pass")
SECRET_KEY = 'secret = "demo_secret"'


@dataclass(frozen=True)
class Config:
    """Text edits (old -> new), environment, files to prepare, or raw bytes for the file."""

    edits: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], None] = lambda _: None
    raw: bytes | None = None


@dataclass(frozen=True)
class Refused:
    """Expected: a ConfigError naming ``key`` (a dotted path or the file) and ``words``."""

    key: str
    words: str


def secret(value: str) -> Config:
    return Config({SECRET_KEY: f"secret = {value}"})


def secret_file(name: str, make: Callable[[Path], None]) -> Config:
    return Config({SECRET_KEY: f'secret = {{ file = "{{tmp}}/{name}" }}'}, prepare=make)


def latin1(tmp: Path) -> None:
    (tmp / "latin1").write_bytes(b"caf\xe9")


def sparse(size: int) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        with (tmp / "big.secret").open("wb") as handle:
            handle.truncate(size)

    return make


CASES = [
    Case(
        "unknown-top-level-key",
        "clear error",
        Config({'log_level = "info"': 'log_levle = "info"'}),
        Refused("log_levle", "Extra inputs are not permitted"),
    ),
    Case(
        "unknown-section",
        "clear error",
        Config({"[server]": "[serverr]"}),
        Refused("serverr", "Extra inputs"),
    ),
    Case(
        "unknown-nested-key",
        "clear error",
        Config({"readiness_multiple = 3": "readiness_multiple = 3\nmax_conections = 5"}),
        Refused("server.max_conections", "Extra inputs"),
    ),
    Case(
        "unknown-env-key",
        "clear error",
        Config(environ={"DAMSYNC_PIM__NOPE": "1"}),
        Refused("pim.nope", "Extra inputs"),
    ),
    Case(
        "port-as-text",
        "clear error",
        Config({"port = 9180": 'port = "eighty"'}),
        Refused("server.port", "valid integer"),
    ),
    Case(
        "batch-size-fraction",
        "clear error",
        Config({"batch_size = 100 ": "batch_size = 1.5 "}),
        Refused("sources.0.sync.batch_size", "fractional part"),
    ),
    Case(
        "log-level-number",
        "clear error",
        Config({'log_level = "info"': "log_level = 3"}),
        Refused("log_level", "'debug', 'info'"),
    ),
    Case("secret-number", "clear error", secret("42"), Refused("pim.secret", "valid string")),
    Case(
        "secret-env-and-file",
        "clear error",
        secret('{ env = "A", file = "/b" }'),
        Refused("pim.secret", "a secret is a string"),
    ),
    Case(
        "secret-vault-form",
        "clear error",
        secret('{ vault = "kv/akeneo" }'),
        Refused("pim.secret", "a secret is a string"),
    ),
    Case(
        "secret-file-is-a-directory",
        "clear error",
        secret_file("dir", lambda tmp: (tmp / "dir").mkdir()),
        Refused("pim.secret", "Is a directory"),
    ),
    Case(
        "secret-file-latin1",
        "clear error",
        secret_file("latin1", latin1),
        Refused("pim.secret", "can't decode"),
    ),
    Case(
        "secret-file-16mb",
        "bounded memory",
        secret_file("big.secret", sparse(16 << 20)),
        Refused("pim.secret", "too large"),
    ),
    Case(
        "store-url-with-password",
        "nothing leaked",
        Config(environ={"DAMSYNC_STORE__URL": "mysql://u:hunter2-pass@db/x"}),
        Refused("store.url", "unsupported database 'mysql'"),
    ),
    Case(
        "pass-deadline-zero",
        "clear error",
        Config({"batch_size = 100 ": "batch_size = 100\npass_deadline = 0\n# "}),
        Refused("sources.0.sync.pass_deadline", "greater than 0"),
    ),
    Case(
        "pass-deadline-infinite",
        "bounded memory",
        Config({"batch_size = 100 ": "batch_size = 100\npass_deadline = inf\n# "}),
        Refused("sources.0.sync.pass_deadline", "finite number"),
    ),
    Case(
        "max-body-bytes-tiny",
        "clear error",
        Config({"[sources.http]\n": "[sources.http]\nmax_body_bytes = 10\n"}),
        Refused("sources.0.http.max_body_bytes", "greater than or equal to 1024"),
    ),
    Case(
        "toml-duplicate-key",
        "clear error",
        Config({"port = 9180": "port = 9180\nport = 9181"}),
        Refused("c.toml", "Cannot overwrite a value"),
    ),
    Case(
        "toml-utf8-bom",
        "clear error",
        Config(raw=b"\xef\xbb\xbf" + BASE.encode()),
        Refused("c.toml", "invalid TOML"),
    ),
    Case(
        "file-not-utf8",
        "clear error",
        Config(raw=b'log_level = "caf\xe9"\n'),
        Refused("c.toml", "UTF-8"),
    ),
]


@pytest.fixture(autouse=True)
def _keep_known_secrets() -> Iterator[None]:
    """A configuration that loads remembers its secrets process-wide: restore the set after."""
    saved = secret_values.known()
    yield
    secret_values.forget_all()
    secret_values.remember(saved)


@pytest.mark.parametrize("case", params(CASES))
def test_configuration(tmp_path: Path, case: Case) -> None:
    """One hostile configuration: one ConfigError naming the key and why, quoting no secret."""
    config: Config = case.input
    config.prepare(tmp_path)
    path = tmp_path / "c.toml"
    if config.raw is not None:
        path.write_bytes(config.raw)
    else:
        text = BASE
        for old, new in config.edits.items():
            assert old in text, f"the base configuration no longer contains {old!r}"
            text = text.replace(old, new.replace("{tmp}", str(tmp_path)), 1)
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, config.environ)
    message = str(caught.value)
    assert (True, True) == (case.expect.key in message, case.expect.words in message), message
    assert [] == [s for s in SECRETS if s in message]
