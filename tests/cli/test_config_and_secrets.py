"""
The CLI on hostile input: every bad configuration is one line naming its key, never a traceback;
a PIM whose token error echoes the password never gets it printed, logged or stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.cli.main import main
from daemon.core import secret_values
from daemon.sim.dam.dam_app import DamSimOptions, create_dam_app
from daemon.sim.pim import create_pim_app, load_seed
from daemon.store import Store
from tests.cli.conftest import ROOT, Served, bound_socket

EXAMPLE = ROOT / "config" / "damsync.example.toml"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _keep_known_secrets() -> Iterator[None]:
    saved = secret_values.known()
    yield
    secret_values.forget_all()
    secret_values.remember(saved)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def config_for(tmp_path: Path, pim: str, dam: str, **edits: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8081", pim).replace("http://127.0.0.1:8082", dam)
    text = text.replace('url = "sqlite:///damsync.db"', f'url = "sqlite:///{tmp_path / "s.db"}"')
    text = text.replace("settle_delay = 2 ", "settle_delay = 0 ")
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- one line per bad configuration -----------------------------------------------------------

BAD = [
    ("interval-inf", {"interval = 10 ": "interval = inf "}, "sources.0.schedule.interval"),
    ("interval-1e12", {"interval = 10 ": "interval = 1e12 "}, "sources.0.schedule.interval"),
    (
        "cron-and-interval",
        {"interval = 10 ": 'interval = 10\ncron = "*/5 * * * *" '},
        "sources.0.schedule: Value error, set either interval or cron, not both",
    ),
    ("store-mysql", {"sqlite:///": "mysql://"}, "store.url: Value error, unsupported database"),
    (
        "base-url-not-a-url",
        {'base_url = "http://127.0.0.1:8082"': 'base_url = "not a url"'},
        "sources.0.rest.base_url",
    ),
    (
        "base-url-file",
        {'base_url = "http://127.0.0.1:8082"': 'base_url = "file:///etc"'},
        "sources.0.rest.base_url",
    ),
]


@pytest.mark.parametrize("command", [("validate-config",), ("sync", "--once")])
@pytest.mark.parametrize(("edits", "line"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_configuration_is_one_line_without_traceback(tmp_path, command, edits, line):
    """Each bad key is refused at load time (exit 2) with one line naming it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, [*command, "--config", str(path)])
    assert 2 == result.exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [text for text in result.output.splitlines() if text.strip()]
    assert 1 == sum(line in text for text in lines), result.output
    # the heading names the file; the problem is the other (and only other) line
    assert 2 == len(lines) and str(path) in lines[0], result.output


# --- a token error that echoes the password ---------------------------------------------------


class EchoingTokenEndpoint:
    """A PIM whose token endpoint refuses every login, quoting the password it was sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/oauth/v1/token":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        sent = json.loads(body or b"{}")
        self.refused += 1
        answer = json.dumps(
            {
                "code": 422,
                "message": f"No user found for username {sent.get('username')!r} and "
                f"password {sent.get('password')!r}",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture(name="echoing")
def _echoing(tmp_path: Path) -> Iterator[tuple[Path, str, EchoingTokenEndpoint]]:
    # The DAM's app names its own URL, so its socket is bound before the app is built.
    dam_socket = bound_socket()
    dam_url = f"http://127.0.0.1:{dam_socket.getsockname()[1]}"
    dam = create_dam_app(DamSimOptions(assets=5, seed=3, history_days=2, base_url=dam_url))
    pim = EchoingTokenEndpoint(create_pim_app(load_seed(ROOT / "config" / "sim" / "pim-seed.json")))
    with Served(pim) as pim_server, Served(dam, dam_socket):
        config = config_for(
            tmp_path,
            pim_server.url,
            dam_url,
            **{
                'password = "demo"': f'password = "{PASSWORD}"',
                'log_format = "auto"': 'log_format = "json"',
            },
        )
        db_url = f"sqlite:///{tmp_path / 's.db'}"
        store = Store.from_url(db_url)
        store.upgrade()
        store.dispose()
        yield config, db_url, pim


def test_an_echoed_password_is_never_printed_logged_or_stored(echoing):
    """CLI summary, every log line and the runs table show *** where the PIM quoted it."""
    config, db_url, pim = echoing
    result = invoke("sync", "--once", "--config", str(config))
    assert pim.refused >= 1  # the PIM really answered with the password in its message
    assert 2 == result.exit_code, result.output
    assert "demo: failed" in result.output
    assert "No user found" in result.output and "***" in result.output
    assert PASSWORD not in result.output  # summary line and log lines (stdout) alike
    assert "correct-horse" not in result.output
    logged = [json.loads(text) for text in result.output.splitlines() if text.startswith("{")]
    assert any(line["event"] == "sync.pass_failed" for line in logged)
    store = Store.from_url(db_url)
    try:
        [run] = store.last_runs("demo", 5)
    finally:
        store.dispose()
    assert run.error is not None and "PimAuthError" in run.error
    assert PASSWORD not in run.error and "***" in run.error


def test_validate_config_does_not_print_an_echoed_password_either(echoing):
    """The same PIM answer through validate-config."""
    config, _, _ = echoing
    result = invoke("validate-config", "--config", str(config))
    assert 0 != result.exit_code
    assert PASSWORD not in result.output
